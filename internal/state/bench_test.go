package state

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkSave measures one atomic state write (backup link, temp file,
// fsync, rename, directory fsync) of a small state.
func BenchmarkSave(b *testing.B) {
	benchSave(b, 0)
}

// BenchmarkSaveLargeSnapshot measures the same with a block-mailboxes
// sized snapshot (5000 mailboxes' flags), which every save rewrites.
func BenchmarkSaveLargeSnapshot(b *testing.B) {
	benchSave(b, 5000)
}

func benchSave(b *testing.B, mailboxes int) {
	dir := b.TempDir()
	type flags struct {
		Guid     string `json:"guid"`
		RpcHttp  bool   `json:"rpc_http"`
		External *bool  `json:"external"`
	}
	snap := make([]flags, mailboxes)
	for i := range snap {
		snap[i] = flags{Guid: fmt.Sprintf("00000000-0000-0000-0000-%012d", i)}
	}
	raw, _ := json.Marshal(snap)
	f := &File{Version: Version, Runbook: "split-namespace", Steps: []Step{
		{ID: "block-mailboxes", Status: "running", Snapshot: raw},
		{ID: "public-dns", Status: "done"},
	}}
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Steps[0].Attempts = i
		if err := Save(dir, f); err != nil {
			b.Fatal(err)
		}
	}
}
