# Sourced by the host scripts that run pytest (tests/python/python-package.sh, tests/agent/agent.sh).
# pytest_add PREFIX LOG: lists each test's outcome from pytest -v's LOG, shows the failures' tracebacks,
# adds the summary's counts to $passed and $failed (errors count as failures; a run that reported
# nothing is one failure) and prints "PREFIX: pytest: <summary>".
pytest_add() {
    local prefix=$1 log=$2 summary p f n
    grep -E ' (PASSED|FAILED|ERROR|SKIPPED)' "$log" | sed 's/^/  /'
    summary=$(tail -n1 "$log")
    p=$(grep -oE '[0-9]+ passed' <<<"$summary" | cut -d' ' -f1)
    f=0; for n in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | cut -d' ' -f1); do f=$((f + n)); done
    [ "$f" != 0 ] && sed -n '/= FAILURES =/,$p' "$log" | head -n 120
    passed=$((passed + ${p:-0})); failed=$((failed + f))
    if [ -z "$p" ] && [ "$f" = 0 ]; then
        echo "$prefix: pytest reported nothing: $summary ... FAILED"; failed=$((failed + 1))
    fi
    echo "$prefix: pytest: $summary"
}
