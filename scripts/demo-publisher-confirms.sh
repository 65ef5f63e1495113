# Part of scripts/demo.sh (sourced): tutorial 7, Publisher Confirms (the guide's "Putting it all together": publisher-confirms/README.md).
# The three strategies, one after the other with the same count, so their figures read side by side.
echo
echo "=== Publisher Confirms  (publisher-confirms/)"
for strategy in individually batches async; do
	echo "--- go run ./publisher-confirms/publish-$strategy -count 5000"
	"$bin/publish-$strategy" -count 5000 | sed 's/^/    /'
done
