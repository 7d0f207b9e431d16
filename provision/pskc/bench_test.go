package pskc

import (
	"crypto/rand"
	"io"
	"testing"
)

// BenchmarkWriterPSK measures the writer alone: encrypting, MACing and
// formatting key packages (secrets prepared beforehand), output discarded.
func BenchmarkWriterPSK(b *testing.B) {
	keys := sampleKeys(b, 1024)
	for _, k := range keys {
		k.Secret = k.Secret[:20]
	}
	w, err := NewWriter(io.Discard, WriterOptions{PreSharedKey: make([]byte, 16)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Write(keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

var _ = rand.Reader
