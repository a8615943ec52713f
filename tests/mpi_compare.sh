#!/bin/sh
# Runs one llmemu command in one process and under `mpirun -np NP`, and compares what they
# write byte for byte: stdout, and each file named @OUT@.<ext> in the arguments (@OUT@ is
# replaced by DIR/one or DIR/npNP). Prints "identical" when everything matches.
# Usage: mpi_compare.sh MPIEXEC NP LLMEMU DIR ARGS...
set -eu
mpiexec=$1; np=$2; bin=$3; dir=$4; shift 4
run() { # run PREFIX OUT ARGS...: the command with @OUT@ replaced
  prefix=$1; out=$2; shift 2
  set -- "$@"
  args=""
  for a in "$@"; do
    a=$(printf '%s' "$a" | sed "s|@OUT@|$out|g")
    args="$args '$a'"
  done
  eval "$prefix \"\$bin\" $args" > "$out.stdout"
}
run "" "$dir/one" "$@"
run "\"\$mpiexec\" --allow-run-as-root --oversubscribe -np $np" "$dir/np$np" "$@"
cmp "$dir/one.stdout" "$dir/np$np.stdout"
for f in "$dir"/one.*; do
  ext=${f##*/one.}
  cmp "$f" "$dir/np$np.$ext"
done
grep -h -c 'engine config\|KV pool holds' "$dir/one.stdout" "$dir"/one.* | tr '\n' ' '
echo identical
