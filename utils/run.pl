#!/usr/bin/env perl
# Run a command, or an array of N jobs in parallel, on this machine, each with its own log
# (the Kaldi/ESPnet calling convention, so recipes switch to slurm.pl by editing cmd.sh only).
#
# Usage: utils/run.pl [options] [JOB=1:N] <log-file> <command> [<args>...]
#   e.g. utils/run.pl --max-jobs-run 2 JOB=1:4 exp/log/feats.JOB.log \
#          python -m prefixasr.bin.compute_fbank --part JOB --num-parts 4
#
# Options:
#   --max-jobs-run N  at most N jobs at a time (default: the number of CPUs)
#   --num-threads N   (or --num_threads) exported to each job as OMP/MKL_NUM_THREADS
#   --gpu N           accepted for compatibility: local jobs see every GPU of the machine
#   --mem X, --time T, --config F   accepted and ignored (they only mean something to a queue)
# The variable name before '=' (usually JOB) is replaced by the job number in the log name and
# in the command. Arguments containing spaces or quotes are quoted for the shell; other arguments
# pass through unquoted, so an escaped \| or \> builds a pipeline, as in Kaldi. A command given
# as one single argument is taken as a whole shell command line: run.pl x.log "a | b > c".
# Each log starts with the command and ends with "# Ended (code N) ..., elapsed time S seconds".
# Exit status: 0 when every job succeeded; 1 otherwise, after naming each failed job's log.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX qw(strftime);

my $prog = "run.pl";

sub usage_exit {
  print STDERR "$prog: $_[0]\n" if @_;
  print STDERR "Usage: $prog [--max-jobs-run N] [--num-threads N] [--gpu N] [--mem X] "
    . "[JOB=1:N] <log-file> <command> [<args>...]\n";
  exit 1;
}

sub num_cpus {
  my $n = `nproc 2>/dev/null`;
  chomp $n if defined $n;
  return ($n && $n =~ /^\d+$/ && $n > 0) ? $n : 1;
}

my $max_jobs_run = num_cpus();
my $num_threads = 0;
my %ignored = map { $_ => 1 } qw(gpu mem time config);

while (@ARGV && $ARGV[0] =~ /^--/) {
  my $opt = shift @ARGV;
  my $val;
  if ($opt =~ /^(--[^=]+)=(.*)$/) { ($opt, $val) = ($1, $2); }
  else {
    usage_exit("option $opt requires a value") unless @ARGV;
    $val = shift @ARGV;
  }
  (my $name = substr($opt, 2)) =~ s/-/_/g;
  if ($name eq "max_jobs_run") {
    usage_exit("--max-jobs-run must be a positive integer, got '$val'") unless $val =~ /^[1-9]\d*$/;
    $max_jobs_run = $val;
  } elsif ($name eq "num_threads") {
    usage_exit("--num-threads must be a positive integer, got '$val'") unless $val =~ /^[1-9]\d*$/;
    $num_threads = $val;
  } elsif (!$ignored{$name}) {
    usage_exit("unknown option $opt");
  }
}

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

# Build one shell command line (see the header for the quoting rule). A lone argument is
# already a command line ("a | b"): nobody means a program named "a | b".
my $cmd = @ARGV == 1 ? $ARGV[0] : join(" ", map {
  my $a = $_;
  if ($a =~ /^\S+$/ && $a !~ /['"]/) { $a }
  else { (my $q = $a) =~ s/'/'\\''/g; "'$q'" }
} @ARGV);

sub subst {
  my ($s, $id) = @_;
  $s =~ s/\Q$jobname\E/$id/g if defined $jobname;
  return $s;
}

sub run_one {
  my ($id) = @_;
  my $log = subst($logfile, $id);
  my $c = subst($cmd, $id);
  my $dir = dirname($log);
  make_path($dir) unless -d $dir;
  open(my $fh, ">", $log) or die "$prog: cannot write log file $log: $!\n";
  my $start = time();
  print $fh "# $c\n# Started at " . localtime() . "\n#\n";
  close $fh;
  $ENV{OMP_NUM_THREADS} = $ENV{MKL_NUM_THREADS} = $num_threads if $num_threads;
  open(STDOUT, ">>", $log) or die "$prog: $log: $!\n";
  open(STDERR, ">&", \*STDOUT) or die "$prog: $log: $!\n";
  my $rc = system("bash", "-c", $c);
  my $code = $rc == -1 ? 127 : ($rc & 127 ? 128 + ($rc & 127) : $rc >> 8);
  my $elapsed = time() - $start;
  print "# Accounting: time=$elapsed threads=" . ($num_threads || 1) . "\n";
  print "# Ended (code $code) at " . localtime() . ", elapsed time $elapsed seconds\n";
  return $code;
}

# Fork one child per job, keeping at most $max_jobs_run alive; each child is its own
# process group so that an interrupt can take down whole pipelines.
my %running;  # pid -> job id
my %code;     # job id -> exit code
$SIG{INT} = $SIG{TERM} = sub {
  kill "TERM", map { -$_ } keys %running;
  print STDERR "$prog: interrupted; killed " . scalar(keys %running) . " running job(s)\n";
  exit 130;
};

sub reap_one {
  my $pid = wait();
  return if $pid <= 0;
  my $id = delete $running{$pid};
  $code{$id} = ($? & 127) ? 128 + ($? & 127) : $? >> 8 if defined $id;
}

for my $id ($first .. $last) {
  reap_one() while keys(%running) >= $max_jobs_run;
  my $pid = fork();
  die "$prog: fork failed: $!\n" unless defined $pid;
  if ($pid == 0) {
    $SIG{INT} = $SIG{TERM} = "DEFAULT";
    setpgrp(0, 0);
    my $c = run_one($id);
    exit($c > 255 ? 255 : $c);
  }
  $running{$pid} = $id;
}
reap_one() while keys %running;

my @failed = grep { $code{$_} != 0 } ($first .. $last);
exit 0 unless @failed;
my $njobs = $last - $first + 1;
my $shown = @failed > 5 ? 5 : scalar @failed;
print STDERR "$prog: job $_ failed, log is in " . subst($logfile, $_) . "\n" for @failed[0 .. $shown - 1];
print STDERR "$prog: ... and " . (@failed - $shown) . " more\n" if @failed > $shown;
if ($njobs > 1) {
  my $pattern = subst($logfile, "*");
  print STDERR "$prog: " . scalar(@failed) . " / $njobs failed, logs are in $pattern\n";
}
exit 1;
