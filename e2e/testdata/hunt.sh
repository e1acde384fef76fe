# A RUN that hunts for credentials, run by the isolation tests (e2e and
# cluster): every string matching $PATTERN (a grep -E expression over runs
# of [A-Za-z0-9+/-]) in the files of the directories a builder leaves
# about, in every process's environ and in the writable memory of every
# process it may read; and the pod's service account token. Each find is a
# line "WHERE: STRING" in /hunt.txt. $CONTROL, in the environment of a
# process of its own, is what the hunt must find. The secret "one", when
# mounted, is copied to /mounted.txt.
env MARK="$CONTROL" sleep 60 &
ctlpid=$!
found() { tr -c 'A-Za-z0-9+/-' '\n' | grep -E "$PATTERN" | sed "s|^|$1: |"; }
if [ -e /run/secrets/one ]; then cat /run/secrets/one > /mounted.txt; fi
{
  if [ -e /var/run/secrets/kubernetes.io/serviceaccount/token ]; then echo "token: present"; fi
  for f in $(find /creds /kaniko /run/secrets /tmp /var/run /workspace /tekton -xdev -type f 2>/dev/null); do
    cat "$f" 2>/dev/null | found "file $f"
  done
  for p in /proc/[0-9]*; do
    cat $p/environ 2>/dev/null | found environ
    grep ' rw' $p/maps 2>/dev/null | while read range perms rest; do
      start=$((0x${range%-*})); end=$((0x${range#*-}))
      dd if=$p/mem bs=4096 skip=$((start/4096)) count=$(((end-start)/4096)) 2>/dev/null | found mem
    done
  done
} | sort -u > /hunt.txt
kill $ctlpid
