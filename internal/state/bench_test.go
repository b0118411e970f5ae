package state

import "testing"

// BenchmarkSave measures one atomic state write (backup link, temp file,
// fsync, rename, directory fsync).
func BenchmarkSave(b *testing.B) {
	dir := b.TempDir()
	f := &File{Version: Version, Runbook: "rb", Steps: []Step{{ID: "a", Status: "pending"}, {ID: "b", Status: "done"}}}
	for i := 0; i < b.N; i++ {
		f.Steps[0].Attempts = i
		if err := Save(dir, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSaveBig(b *testing.B) {
	dir := b.TempDir()
	f := &File{Version: Version, Runbook: "rb"}
	for i := 0; i < 6; i++ {
		f.Steps = append(f.Steps, Step{ID: string(rune('a' + i)), Status: "done", Snapshot: []byte(`{"a":"` + string(make([]byte, 0)) + `"}`), Plan: []byte(`{"changes":[]}`)})
	}
	for i := 0; i < b.N; i++ {
		f.Steps[0].Attempts = i
		if err := WriteFileAtomic(dir+"/../org.json", []byte("{}"), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := Save(dir, f); err != nil {
			b.Fatal(err)
		}
	}
}
