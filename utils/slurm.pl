#!/usr/bin/env perl
# Run a command, or an array of N jobs, on a Slurm cluster as ONE `sbatch` job array, and wait
# for it. Same calling convention as utils/run.pl, so cmd.sh is the only file a recipe changes.
#
# Usage: utils/slurm.pl [options] [JOB=1:N] <log-file> <command> [<args>...]
#   e.g. utils/slurm.pl --gpu 1 --mem 8G --num-threads 4 JOB=1:8 exp/log/decode.JOB.log \
#          python -m prefixasr.bin.decode --part JOB --num-parts 8
#
# Options (each --name value is mapped to sbatch options by the config file):
#   --config F        the mapping (default: conf/slurm.conf in the current directory, else the
#                     copy beside this script in ../conf/slurm.conf)
#   --gpu N, --mem X, --num-threads N (or --num_threads), --time T, and any other name the
#                     config defines with an `option name=...` line
#   --max-jobs-run N  at most N array tasks run at once (sbatch --array=1-N%M)
# Config format (Kaldi's): `command sbatch ...` (the base command); `option name=* opts $0`
# (value substituted for $0); `option name=value opts` (exact value, wins over *);
# `default name=value` (applied when the option is not given); `option opts` (always added).
# The job script goes to <log-dir>/q/<log-name>.sh, Slurm's own output to <log-dir>/q/*.out;
# each task writes <log-dir>/q/<log-name>.<task>.status holding its exit code.
# Exit status: 0 when every task succeeded; 1 otherwise, after naming each failed task's log.
use strict;
use warnings;
use Cwd qw(getcwd);
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use FindBin qw($RealBin);

my $prog = "slurm.pl";

sub fail { print STDERR "$prog: $_[0]\n"; exit 1; }

sub usage_exit {
  print STDERR "$prog: $_[0]\n" if @_;
  print STDERR "Usage: $prog [--config conf/slurm.conf] [--gpu N] [--mem X] [--num-threads N] "
    . "[--max-jobs-run N] [JOB=1:N] <log-file> <command> [<args>...]\n";
  exit 1;
}

# Single-quote a string for bash.
sub shq { my $s = shift; $s =~ s/'/'\\''/g; return "'$s'"; }

my %opts;  # name -> value, from the command line
my $config;
my $max_jobs_run;
while (@ARGV && $ARGV[0] =~ /^--/) {
  my $opt = shift @ARGV;
  my $val;
  if ($opt =~ /^(--[^=]+)=(.*)$/) { ($opt, $val) = ($1, $2); }
  else {
    usage_exit("option $opt requires a value") unless @ARGV;
    $val = shift @ARGV;
  }
  (my $name = substr($opt, 2)) =~ s/-/_/g;
  if ($name eq "config") { $config = $val; }
  elsif ($name eq "max_jobs_run") {
    usage_exit("--max-jobs-run must be a positive integer, got '$val'") unless $val =~ /^[1-9]\d*$/;
    $max_jobs_run = $val;
  } else { $opts{$name} = $val; }
}

if (!defined $config) {
  $config = -f "conf/slurm.conf" ? "conf/slurm.conf" : "$RealBin/../conf/slurm.conf";
}
fail("config file $config does not exist") unless -f $config;

# Parse the config: base command, defaults, and per-option rules.
my ($base_cmd, @always, %default, %exact, %star, %known);
open(my $cfh, "<", $config) or fail("cannot read $config: $!");
while (my $line = <$cfh>) {
  $line =~ s/#.*$//;
  $line =~ s/^\s+|\s+$//g;
  next if $line eq "";
  if ($line =~ /^command\s+(.+)$/) { $base_cmd = $1; }
  elsif ($line =~ /^default\s+(\w+)=(\S+)$/) { $default{$1} = $2; $known{$1} = 1; }
  elsif ($line =~ /^option\s+(\w+)=\*(?:\s+(.*))?$/) { $star{$1} = $2 // ""; $known{$1} = 1; }
  elsif ($line =~ /^option\s+(\w+)=(\S+)(?:\s+(.*))?$/) { $exact{"$1=$2"} = $3 // ""; $known{$1} = 1; }
  elsif ($line =~ /^option\s+(-.*)$/) { push @always, $1; }
  else { fail("$config:$.: cannot parse '$line'"); }
}
close $cfh;
fail("$config has no 'command' line (e.g. 'command sbatch --export=PATH')") unless defined $base_cmd;

for my $name (sort keys %opts) {
  fail("option --$name is not defined in $config (add an 'option $name=* ...' line)")
    unless $known{$name};
}
my %value = (%default, %opts);
my @sbatch_opts = @always;
for my $name (sort keys %value) {
  my $v = $value{$name};
  if (exists $exact{"$name=$v"}) { push @sbatch_opts, $exact{"$name=$v"}; }
  elsif (exists $star{$name}) { (my $o = $star{$name}) =~ s/\$0/$v/g; push @sbatch_opts, $o; }
  else { fail("no rule in $config for --$name $v (add 'option $name=* ...' or 'option $name=$v ...')"); }
}
@sbatch_opts = grep { $_ ne "" } @sbatch_opts;

my ($jobname, $first, $last) = (undef, 1, 1);
if (@ARGV && $ARGV[0] =~ /^([A-Za-z_]\w*)=(\d+):(\d+)$/) {
  ($jobname, $first, $last) = ($1, $2, $3);
  shift @ARGV;
  usage_exit("invalid job range $jobname=$first:$last: it must start at 1 or more and not be empty")
    if $first < 1 || $last < $first;
} elsif (@ARGV && $ARGV[0] =~ /^([A-Za-z_]\w*)=(\d+)$/) {
  ($jobname, $first, $last) = ($1, $2, $2);
  shift @ARGV;
}
usage_exit("expected a log file and a command") if @ARGV < 2;
my $logfile = shift @ARGV;
if (defined $jobname && $last > $first && index($logfile, $jobname) < 0) {
  usage_exit("$last jobs would all write one log file '$logfile': put $jobname in its name");
}
# Same quoting rule as run.pl.
my $cmd = @ARGV == 1 ? $ARGV[0] : join(" ", map {
  my $a = $_;
  ($a =~ /^\S+$/ && $a !~ /['"]/) ? $a : shq($a)
} @ARGV);

my $logdir = dirname($logfile);
my $qdir = "$logdir/q";
make_path($qdir) unless -d $qdir;
(my $base = basename($logfile)) =~ s/\.log$//;
$base =~ s/\Q$jobname\E/JOB/g if defined $jobname;
my $script = "$qdir/$base.sh";
my $status_prefix = "$qdir/$base";
unlink glob("$status_prefix.*.status");

my $array = "$first-$last" . (defined $max_jobs_run ? "%$max_jobs_run" : "");
# The job script substitutes the task id at run time (bash ${var//JOB/id}), so quoting in the
# command survives untouched.
my $cwd = getcwd();
my $jn = defined $jobname ? $jobname : "JOB";
open(my $sfh, ">", $script) or fail("cannot write job script $script: $!");
print $sfh <<"END";
#!/usr/bin/env bash
# Written by utils/slurm.pl; submitted as: sbatch --array=$array $script
cd @{[shq($cwd)]} || exit 1
[ -f ./path.sh ] && . ./path.sh
id=\${SLURM_ARRAY_TASK_ID:?not running as a Slurm array task}
cmd=@{[shq($cmd)]}
log=@{[shq($logfile)]}
cmd=\${cmd//@{[shq($jn)]}/\$id}
log=\${log//@{[shq($jn)]}/\$id}
mkdir -p "\$(dirname "\$log")"
start=\$(date +%s)
{ echo "# \$cmd"; echo "# Started at \$(date) on \$(hostname)"; echo "#"; } > "\$log"
bash -c "\$cmd" >> "\$log" 2>&1
code=\$?
end=\$(date +%s)
echo "# Accounting: time=\$((end - start)) threads=\${SLURM_CPUS_PER_TASK:-1}" >> "\$log"
echo "# Ended (code \$code) at \$(date), elapsed time \$((end - start)) seconds" >> "\$log"
echo \$code > @{[shq($status_prefix)]}.\$id.status
exit \$code
END
close $sfh;
chmod 0755, $script;

my $submit = join(" ", $base_cmd, @sbatch_opts, "--wait", "--array=$array",
  "--job-name=" . shq($base), "--output=" . shq("$qdir/$base-%a.out"), shq($script));
(my $sbatch = $base_cmd) =~ s/\s.*//;
system("command -v $sbatch >/dev/null 2>&1") == 0
  or fail("'$sbatch' not found on PATH: this is not a Slurm submit host (use utils/run.pl in cmd.sh)");
# --wait blocks until every task has ended; its own exit code is not trusted (it differs
# between Slurm versions), the per-task status files are.
system($submit);
my $submit_rc = $? >> 8;

my (@failed, @missing);
for my $id ($first .. $last) {
  my $f = "$status_prefix.$id.status";
  if (open(my $fh, "<", $f)) {
    my $c = <$fh> // "";
    chomp $c;
    push @failed, $id if $c ne "0";
  } else {
    push @missing, $id;
  }
}
sub job_log { my $s = $logfile; $s =~ s/\Q$jobname\E/$_[0]/g if defined $jobname; return $s; }
if (@missing == $last - $first + 1 && $submit_rc != 0) {
  fail("submission failed (exit $submit_rc): $submit");
}
# Name at most 5 of each kind: a 500-task array should not flood the terminal.
sub first5 { return @_ > 5 ? @_[0 .. 4] : @_; }
print STDERR "$prog: job $_ failed, log is in " . job_log($_) . "\n" for first5(@failed);
print STDERR "$prog: job $_ never finished (killed or not scheduled?), see $qdir/$base-$_.out\n"
  for first5(@missing);
my $bad = @failed + @missing;
exit 0 unless $bad;
print STDERR "$prog: $bad / " . ($last - $first + 1) . " failed, logs are in " . job_log("*") . "\n"
  if $last > $first;
exit 1;
