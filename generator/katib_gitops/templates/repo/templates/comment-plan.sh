# Post the plan on the pull request, or update the comment posted before: the one a bot wrote that starts
# with the hidden marker (`gh pr comment --edit-last` would edit whatever this token wrote last, in any
# workflow). A token that cannot write (a pull request from a fork, Dependabot) or an API error is a warning,
# never a failed check: the plan is in the run's summary and its katib-gitops-plan artifact either way.
# Environment: GH_TOKEN, GH_REPO (owner/name), PR (its number), MARKER (<!-- ... -->), PLAN (the markdown).
set -uo pipefail
warn() {
  echo "::warning title=katib-gitops plan::$1; the plan is in the run's summary and its katib-gitops-plan artifact"
  exit 0
}
body="$RUNNER_TEMP/katib-gitops-comment.md"
{ printf '%s\n' "$MARKER" && cat "$PLAN"; } > "$body" || warn "no plan to post"
comments="$(gh api --paginate "repos/$GH_REPO/issues/$PR/comments")" || warn "cannot read the pull request's comments"
id="$(printf '%s' "$comments" | jq -r --arg marker "$MARKER" \
  '.[] | select(.user.type == "Bot" and (.body | startswith($marker))) | .id' | head -n 1)"
if [ -n "$id" ]; then
  gh api --method PATCH "repos/$GH_REPO/issues/comments/$id" -F "body=@$body" > /dev/null \
    || warn "cannot update the plan comment"
else
  gh api --method POST "repos/$GH_REPO/issues/$PR/comments" -F "body=@$body" > /dev/null \
    || warn "cannot comment the plan"
fi
