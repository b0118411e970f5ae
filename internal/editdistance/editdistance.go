// Package editdistance finds the nearest known name to a mistyped one, for
// the "did you mean …?" of config keys and runbook fields.
package editdistance

// Distance is the Levenshtein distance between a and b, counted in runes:
// the fewest insertions, deletions and substitutions that turn a into b.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Nearest returns the name in known closest to s, if it is closer than
// limit edits; the first of equally close names wins.
func Nearest(s string, known []string, limit int) (string, bool) {
	best, bestD := "", limit
	for _, k := range known {
		if d := Distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best, best != ""
}
