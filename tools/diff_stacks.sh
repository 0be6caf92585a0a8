#!/usr/bin/env bash
# Which stacks of a synthesized cloud assembly differ from the deployed ones.
#
#   tools/diff_stacks.sh 'mlops-*-staging' mlops-staging
#
# For each stack of the assembly (CDK_APP, default cdk.out) that the patterns match
# (`cdk ls` globs), runs `cdk diff --method template --fail`: the stack's template
# against the one CloudFormation holds (read through the CDK lookup role when the caller
# may assume it, else with the caller's own credentials: the pull-request diff roles may
# only DescribeStacks and GetTemplate). Writes each diff to the job summary
# ($GITHUB_STEP_SUMMARY, else stdout) and the stacks that differ, space-separated, as
# `stacks=...` to $GITHUB_OUTPUT (else stdout). A stack not deployed yet differs; a diff
# that fails (no credentials, throttling) counts as a difference, so the deploy that
# follows runs and reports the real error rather than skipping silently.
set -euo pipefail

cdk=${CDK:-node_modules/.bin/cdk}
app=${CDK_APP:-cdk.out}
summary=${GITHUB_STEP_SUMMARY:-/dev/stdout}
output=${GITHUB_OUTPUT:-/dev/stdout}
if [ $# -eq 0 ]; then
  echo "usage: tools/diff_stacks.sh STACK_PATTERN..." >&2
  exit 2
fi

listed=$("$cdk" ls --app "$app" "$@")
mapfile -t stacks <<<"$listed"
changed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for stack in "${stacks[@]}"; do
  [ -n "$stack" ] || continue
  if "$cdk" diff --app "$app" --exclusively --method template --fail --no-color "$stack" >"$log" 2>&1; then
    echo "- \`$stack\`: no changes" >>"$summary"
  else
    changed+=("$stack")
    {
      echo "<details><summary><code>$stack</code>: changes</summary>"
      echo
      echo '```diff'
      cat "$log"
      echo '```'
      echo "</details>"
    } >>"$summary"
  fi
done
echo "stacks=${changed[*]}" >>"$output"
