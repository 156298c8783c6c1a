# Which backend runs the jobs of asr.sh. Both take the Kaldi calling convention:
#   ${decode_cmd} [--gpu N] [--mem X] [--num_threads N] [--max-jobs-run N] JOB=1:N <log> <command...>
# local: utils/run.pl runs the jobs on this machine, in parallel, one log per job.
# slurm: utils/slurm.pl submits one sbatch job array and waits; --gpu/--mem/--num_threads become
#        sbatch options through conf/slurm.conf (copy ../../conf/slurm.conf there and edit it).
cmd_backend=${CMD_BACKEND:-local}   # local | slurm (or set CMD_BACKEND in the environment)

case "${cmd_backend}" in
  local)
    export train_cmd="utils/run.pl"
    export decode_cmd="utils/run.pl"
    export cuda_cmd="utils/run.pl" ;;
  slurm)
    export train_cmd="utils/slurm.pl --mem 4G"
    export decode_cmd="utils/slurm.pl --mem 4G"
    export cuda_cmd="utils/slurm.pl --mem 16G" ;;
  *)
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2
    return 1 ;;
esac
