package pskc

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// WriterOptions choose the protection of a written document. With neither
// PreSharedKey nor Passphrase, secrets are written in PlainValue.
type WriterOptions struct {
	// PreSharedKey is a 16-byte AES-128 key (RFC 6030 §6.1).
	PreSharedKey []byte
	// KeyName is the ds:KeyName naming the pre-shared key (default
	// "Pre-shared-key"), or the MasterKeyName of a passphrase
	// (default "Passphrase").
	KeyName string
	// Passphrase derives the AES-128 key with PBKDF2-HMAC-SHA1 (RFC 6030 §6.2).
	Passphrase []byte
	// Iterations is the PBKDF2 iteration count (default [DefaultIterations]).
	Iterations int
	// Rand supplies IVs, the MAC key and the salt (default crypto/rand).
	// It is called from several goroutines, one at a time.
	Rand io.Reader
	// Workers is how many goroutines encrypt and format key packages
	// (default GOMAXPROCS). Output order is always the order of Write.
	Workers int
	// ID is the KeyContainer/@Id; empty leaves it out.
	ID string
}

// DefaultIterations is the PBKDF2 iteration count the writer uses by default.
const DefaultIterations = 100_000

// macKeySize is the MAC key length: HMAC-SHA256's output size (RFC 2104 §3).
const macKeySize = 32

// chunkSize is how many key packages travel through the pipeline together.
const chunkSize = 256

// Writer writes a PSKC document one KeyPackage at a time. Work is spread
// over [WriterOptions.Workers] goroutines in chunks of key packages and
// written in order through a buffer, so memory stays flat whatever the
// number of keys. A Writer is not safe for concurrent use. Close writes the
// end of the document and stops the writer's goroutines: call it also when
// giving up after an error. It does not close the underlying writer.
type Writer struct {
	raw   io.Writer     // chunks go straight here
	out   *bufio.Writer // the header and the end of the document
	block cipher.Block  // nil when secrets are written in plain
	mac   []byte
	rand  *lockedReader
	n     int // key packages so far

	cur     *chunk
	free    chan *chunk
	work    chan *chunk
	ordered chan *chunk
	outDone chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	err    error
	closed bool
}

// chunk is a run of key packages formatted by one worker.
type chunk struct {
	keys    []Key
	secrets []byte // arena the keys' secrets are copied into
	first   int    // 1-based index of keys[0], for errors
	buf     []byte
	err     error
	done    chan struct{}
}

type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return io.ReadFull(l.r, p)
}

// NewWriter writes a document's header to w and returns a Writer for its
// key packages.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	if opts.PreSharedKey != nil && opts.Passphrase != nil {
		return nil, errors.New("pskc: give a pre-shared key or a passphrase, not both")
	}
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	pw := &Writer{raw: w, out: bufio.NewWriterSize(w, 16<<10), rand: &lockedReader{r: r}}
	hdr := []byte(xmlHeader)
	var encKey []byte
	switch {
	case opts.PreSharedKey != nil:
		if len(opts.PreSharedKey) != 16 {
			return nil, fmt.Errorf("pskc: pre-shared key has %d bytes, want 16 (AES-128)", len(opts.PreSharedKey))
		}
		encKey = opts.PreSharedKey
		name := opts.KeyName
		if name == "" {
			name = "Pre-shared-key"
		}
		hdr = append(hdr, `<KeyContainer xmlns="`+NSPSKC+`" xmlns:ds="`+NSDSig+`" xmlns:xenc="`+NSXEnc+`" Version="1.0"`...)
		hdr = appendIDAttr(hdr, opts.ID)
		hdr = append(hdr, ">\n <EncryptionKey>\n  <ds:KeyName>"...)
		hdr = appendEscaped(hdr, name)
		hdr = append(hdr, "</ds:KeyName>\n </EncryptionKey>\n"...)
	case opts.Passphrase != nil:
		if len(opts.Passphrase) == 0 {
			return nil, errors.New("pskc: empty passphrase")
		}
		iter := opts.Iterations
		if iter == 0 {
			iter = DefaultIterations
		}
		if iter < 1 {
			return nil, fmt.Errorf("pskc: PBKDF2 iteration count %d", iter)
		}
		salt := make([]byte, 16)
		if _, err := pw.rand.Read(salt); err != nil {
			return nil, fmt.Errorf("pskc: reading salt: %w", err)
		}
		encKey = deriveKey(opts.Passphrase, salt, iter, 16, prfSHA1)
		name := opts.KeyName
		if name == "" {
			name = "Passphrase"
		}
		hdr = append(hdr, `<KeyContainer xmlns="`+NSPSKC+`" xmlns:ds="`+NSDSig+`" xmlns:xenc="`+NSXEnc+`" xmlns:xenc11="`+NSXEnc11+`" xmlns:pkcs5="`+NSPKCS5+`" Version="1.0"`...)
		hdr = appendIDAttr(hdr, opts.ID)
		hdr = append(hdr, ">\n <EncryptionKey>\n  <xenc11:DerivedKey>\n   <xenc11:KeyDerivationMethod Algorithm=\""+PBKDF2+"\">\n    <pkcs5:PBKDF2-params>\n     <Salt>\n      <Specified>"...)
		hdr = base64.StdEncoding.AppendEncode(hdr, salt)
		hdr = append(hdr, "</Specified>\n     </Salt>\n     <IterationCount>"...)
		hdr = strconv.AppendInt(hdr, int64(iter), 10)
		hdr = append(hdr, "</IterationCount>\n     <KeyLength>16</KeyLength>\n    </pkcs5:PBKDF2-params>\n   </xenc11:KeyDerivationMethod>\n   <xenc11:MasterKeyName>"...)
		hdr = appendEscaped(hdr, name)
		hdr = append(hdr, "</xenc11:MasterKeyName>\n  </xenc11:DerivedKey>\n </EncryptionKey>\n"...)
	default:
		hdr = append(hdr, `<KeyContainer xmlns="`+NSPSKC+`" Version="1.0"`...)
		hdr = appendIDAttr(hdr, opts.ID)
		hdr = append(hdr, ">\n"...)
	}
	if encKey != nil {
		block, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, fmt.Errorf("pskc: %v", err)
		}
		pw.block = block
		pw.mac = make([]byte, macKeySize)
		var iv [16]byte
		if _, err := pw.rand.Read(pw.mac); err != nil {
			return nil, fmt.Errorf("pskc: reading MAC key: %w", err)
		}
		if _, err := pw.rand.Read(iv[:]); err != nil {
			return nil, fmt.Errorf("pskc: reading IV: %w", err)
		}
		// RFC 6030 §6.1.1: the MAC key travels encrypted with the same key.
		hdr = append(hdr, " <MACMethod Algorithm=\""+HMACSHA256+"\">\n  <MACKey>\n   <xenc:EncryptionMethod Algorithm=\""+AES128CBC+"\"/>\n   <xenc:CipherData>\n    <xenc:CipherValue>"...)
		hdr = base64.StdEncoding.AppendEncode(hdr, encryptCBC(nil, block, iv[:], pw.mac))
		hdr = append(hdr, "</xenc:CipherValue>\n   </xenc:CipherData>\n  </MACKey>\n </MACMethod>\n"...)
	}
	if _, err := pw.out.Write(hdr); err != nil {
		return nil, fmt.Errorf("pskc: %w", err)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	depth := 2 * workers
	pw.free = make(chan *chunk, depth+1)
	for range depth + 1 {
		pw.free <- &chunk{done: make(chan struct{}, 1)}
	}
	pw.work = make(chan *chunk, depth)
	pw.ordered = make(chan *chunk, depth)
	pw.outDone = make(chan struct{})
	for range workers {
		pw.wg.Add(1)
		go pw.worker()
	}
	go pw.output()
	return pw, nil
}

var prfSHA1, _ = prfHash("")

const xmlHeader = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

func appendIDAttr(b []byte, id string) []byte {
	if id == "" {
		return b
	}
	b = append(b, ` Id="`...)
	b = appendEscaped(b, id)
	return append(b, '"')
}

// Write queues one key package. The key's Secret is copied, so the caller
// may reuse it. An error from an earlier package or from the underlying
// writer is returned by a later Write or by Close.
func (w *Writer) Write(k *Key) error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.closed {
		return errors.New("pskc: write after close")
	}
	if w.cur == nil {
		w.cur = <-w.free
		if err := w.failed(); err != nil {
			w.free <- w.cur
			w.cur = nil
			return err
		}
		w.cur.keys = w.cur.keys[:0]
		w.cur.secrets = w.cur.secrets[:0]
		w.cur.first = w.n + 1
	}
	w.n++
	c := w.cur
	kc := *k
	if k.Secret != nil {
		c.secrets = append(c.secrets, k.Secret...)
	}
	c.keys = append(c.keys, kc)
	if len(c.keys) == chunkSize {
		w.dispatch()
	}
	return nil
}

// dispatch sends the current chunk to the workers and the output in order.
func (w *Writer) dispatch() {
	c := w.cur
	w.cur = nil
	// Secrets were appended to a growing arena; re-point them now that it
	// no longer moves.
	off := 0
	for i := range c.keys {
		if c.keys[i].Secret == nil {
			continue
		}
		n := len(c.keys[i].Secret)
		c.keys[i].Secret = c.secrets[off : off+n : off+n]
		off += n
	}
	w.ordered <- c
	w.work <- c
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// Close formats the queued key packages, writes the end of the document
// and flushes. It returns the first error of any Write.
func (w *Writer) Close() error {
	if w.closed {
		return w.failed()
	}
	w.closed = true
	if w.cur != nil {
		w.dispatch()
	}
	close(w.work)
	close(w.ordered)
	w.wg.Wait()
	<-w.outDone
	if err := w.failed(); err != nil {
		return err
	}
	if _, err := io.WriteString(w.out, "</KeyContainer>\n"); err != nil {
		return fmt.Errorf("pskc: %w", err)
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("pskc: %w", err)
	}
	return nil
}

// Count returns how many key packages were written so far.
func (w *Writer) Count() int { return w.n }

// output writes finished chunks in the order they were queued.
func (w *Writer) output() {
	defer close(w.outDone)
	for c := range w.ordered {
		<-c.done
		if c.err != nil {
			w.fail(c.err)
		} else if w.failed() == nil {
			// A chunk is a few hundred kilobytes: written as it is, not
			// copied through the buffer.
			err := w.out.Flush()
			if err == nil {
				_, err = w.raw.Write(c.buf)
			}
			if err != nil {
				w.fail(fmt.Errorf("pskc: %w", err))
			}
		}
		clear(c.secrets)
		w.free <- c
	}
}

// worker encrypts and formats chunks.
func (w *Writer) worker() {
	defer w.wg.Done()
	var m hash.Hash
	if w.block != nil {
		m = hmac.New(sha256.New, w.mac)
	}
	var ivs, ct []byte
	var cbc cipher.BlockMode
	var sum [sha256.Size]byte
	if w.block != nil {
		cbc = cipher.NewCBCEncrypter(w.block, make([]byte, aes.BlockSize))
	}
	for c := range w.work {
		c.buf = c.buf[:0]
		c.err = nil
		if w.block != nil {
			ivs = append(ivs[:0], make([]byte, 16*len(c.keys))...)
			if _, err := w.rand.Read(ivs); err != nil {
				c.err = fmt.Errorf("pskc: reading IVs: %w", err)
			}
		}
		for i := range c.keys {
			if c.err != nil {
				break
			}
			k := &c.keys[i]
			if w.block != nil {
				ct = encryptCBCWith(ct[:0], cbc, ivs[16*i:16*i+16], k.Secret)
				m.Reset()
				m.Write(ct)
				c.buf = appendKeyPackage(c.buf, k, ct, m.Sum(sum[:0]))
			} else {
				c.buf = appendKeyPackage(c.buf, k, nil, nil)
			}
		}
		c.done <- struct{}{}
	}
}

// appendKeyPackage formats one KeyPackage, on one line, in the element
// order of the RFC 6030 schema. ct and mac are the encrypted secret and its
// ValueMAC, or nil to write the secret in PlainValue. One line a key keeps
// files of a million keys small (writing them costs by the byte) and lets
// grep and wc work on them.
func appendKeyPackage(b []byte, k *Key, ct, mac []byte) []byte {
	b = append(b, " <KeyPackage>"...)
	if k.Manufacturer != "" || k.SerialNo != "" || k.Model != "" || k.IssueNo != "" || k.DeviceUserID != "" {
		b = append(b, "<DeviceInfo>"...)
		b = appendElem(b, "Manufacturer", k.Manufacturer)
		b = appendElem(b, "SerialNo", k.SerialNo)
		b = appendElem(b, "Model", k.Model)
		b = appendElem(b, "IssueNo", k.IssueNo)
		b = appendElem(b, "UserId", k.DeviceUserID)
		b = append(b, "</DeviceInfo>"...)
	}
	id := k.ID
	if id == "" {
		id = k.SerialNo
	}
	b = append(b, `<Key Id="`...)
	b = appendEscaped(b, id)
	b = append(b, `" Algorithm="`...)
	b = appendEscaped(b, k.Algorithm)
	b = append(b, `">`...)
	b = appendElem(b, "Issuer", k.Issuer)
	if k.Suite != "" || k.ResponseLength != 0 {
		b = append(b, "<AlgorithmParameters>"...)
		b = appendElem(b, "Suite", k.Suite)
		if k.ResponseLength != 0 {
			enc := k.ResponseEncoding
			if enc == "" {
				enc = "DECIMAL"
			}
			b = append(b, `<ResponseFormat Length="`...)
			b = strconv.AppendInt(b, int64(k.ResponseLength), 10)
			b = append(b, `" Encoding="`...)
			b = appendEscaped(b, enc)
			if k.ResponseCheck {
				b = append(b, `" CheckDigits="true`...)
			}
			b = append(b, `"/>`...)
		}
		b = append(b, "</AlgorithmParameters>"...)
	}
	b = appendElem(b, "FriendlyName", k.FriendlyName)
	b = append(b, "<Data>"...)
	if k.Secret != nil {
		if ct != nil {
			b = append(b, `<Secret><EncryptedValue><xenc:EncryptionMethod Algorithm="`+AES128CBC+`"/><xenc:CipherData><xenc:CipherValue>`...)
			b = base64.StdEncoding.AppendEncode(b, ct)
			b = append(b, "</xenc:CipherValue></xenc:CipherData></EncryptedValue><ValueMAC>"...)
			b = base64.StdEncoding.AppendEncode(b, mac)
			b = append(b, "</ValueMAC></Secret>"...)
		} else {
			b = append(b, "<Secret><PlainValue>"...)
			b = base64.StdEncoding.AppendEncode(b, k.Secret)
			b = append(b, "</PlainValue></Secret>"...)
		}
	}
	b = appendInt(b, "Counter", k.Counter)
	b = appendInt(b, "Time", k.Time)
	b = appendInt(b, "TimeInterval", k.TimeInterval)
	b = appendInt(b, "TimeDrift", k.TimeDrift)
	b = append(b, "</Data>"...)
	b = appendElem(b, "UserId", k.UserID)
	if !k.StartDate.IsZero() || !k.ExpiryDate.IsZero() || len(k.KeyUsage) > 0 || k.NumberOfTransactions != nil {
		b = append(b, "<Policy>"...)
		if !k.StartDate.IsZero() {
			b = appendElem(b, "StartDate", k.StartDate.UTC().Format(time.RFC3339))
		}
		if !k.ExpiryDate.IsZero() {
			b = appendElem(b, "ExpiryDate", k.ExpiryDate.UTC().Format(time.RFC3339))
		}
		for _, u := range k.KeyUsage {
			b = appendElem(b, "KeyUsage", u)
		}
		if k.NumberOfTransactions != nil {
			b = appendElem(b, "NumberOfTransactions", strconv.FormatUint(*k.NumberOfTransactions, 10))
		}
		b = append(b, "</Policy>"...)
	}
	return append(b, "</Key></KeyPackage>\n"...)
}

func appendElem(b []byte, name, text string) []byte {
	if text == "" {
		return b
	}
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendInt(b []byte, name string, v *uint64) []byte {
	if v == nil {
		return b
	}
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, "><PlainValue>"...)
	b = strconv.AppendUint(b, *v, 10)
	b = append(b, "</PlainValue></"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendEscaped appends s with the five XML special characters escaped.
// Control characters other than tab, newline and carriage return cannot be
// represented in XML 1.0 and become U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			clean = false
			break
		}
	}
	if clean {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\'':
			b = append(b, "&apos;"...)
		case '\t', '\n', '\r':
			b = append(b, "&#"...)
			b = strconv.AppendInt(b, int64(c), 10)
			b = append(b, ';')
		default:
			if c < 0x20 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, c)
			}
		}
	}
	return b
}
