#!/bin/sh
# npm test. The nemesis run (about a minute, most of one core) runs beside the typecheck, lint and unit
# tests, which leave part of the second core idle, rather than after the browsers: 20-40 s less in all.
# Its output is printed as one block when the rest is done.
log="${TMPDIR:-/tmp}/lockstep-nemesis-$$.log"
npm run -s test:nemesis >"$log" 2>&1 &
nemesis=$!
npm run typecheck && npm run lint && npm run test:unit && npm run test:e2e
rest=$?
wait "$nemesis"
nemesisStatus=$?
echo "--- npm run test:nemesis (ran beside the above): exit $nemesisStatus ---"
cat "$log"
rm -f "$log"
[ "$rest" -eq 0 ] && [ "$nemesisStatus" -eq 0 ]
