package pskc

import (
	"bytes"
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

// BenchmarkReaderPSK measures the streaming reader on a document written
// by the writer: XML decoding, MAC check and decryption per key package.
func BenchmarkReaderPSK(b *testing.B) {
	psk := make([]byte, 16)
	doc := writeDoc(b, sampleKeys(b, 2000), WriterOptions{PreSharedKey: psk})
	b.SetBytes(int64(len(doc)) / 2000)
	b.ReportAllocs()
	b.ResetTimer()
	var r *Reader
	for i := 0; i < b.N; i++ {
		if i%2000 == 0 {
			var err error
			if r, err = NewReader(bytes.NewReader(doc), ReaderOptions{PreSharedKey: psk}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
