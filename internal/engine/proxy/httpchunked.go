package proxy

// Chunked transfer coding: a strict streaming decoder, and the chunks the engine writes.

// chunkOut says what chunkDecoder.decode writes for the body it reads.
type chunkOut uint8

const (
	chunkDiscard chunkOut = iota // nothing (a body the engine drops)
	chunkReframe                 // the body in chunked coding of the engine's own making
	chunkRaw                     // the data alone (for an HTTP/1.0 client)
)

// chunkDecoder reads a chunked body strictly (RFC 9112) from a byte stream: chunk
// sizes in hex, extensions, data, and the trailer section, every line ended by CRLF. It
// never passes on the bytes it read: decode writes the data in chunks of its own (one
// per contiguous piece of data it saw), drops extensions and checks and drops trailer
// fields. The zero value is not ready: call reset.
type chunkDecoder struct {
	state   uint8
	size    int64 // data bytes left in the current chunk; the size being read in csSize
	digits  int
	lineLen int
	trailer int
	// limits: a chunk-size line or extension beyond maxLine bytes and a trailer section
	// beyond maxTrailer bytes are malformed; data beyond maxBody bytes in total (0: no
	// limit) is errBodyTooLarge.
	maxLine, maxTrailer int
	maxBody, total      int64
}

const (
	csSize uint8 = iota
	csSizeWS
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csTrailerStart
	csTrailerName
	csTrailerValue
	csTrailerLF
	csEndLF
	csDone
)

// maxChunkSize bounds one chunk's size (15 hex digits), far beyond any real body and
// below where int64 arithmetic could overflow.
const maxChunkSize = 1<<60 - 1

func (c *chunkDecoder) reset(maxTrailer int, maxBody int64) {
	*c = chunkDecoder{maxLine: 4096, maxTrailer: maxTrailer, maxBody: maxBody}
}

// done reports whether the whole body has been read.
func (c *chunkDecoder) done() bool { return c.state == csDone }

// decode consumes a prefix of p that belongs to the body and appends what out asks for to
// dst. It returns dst, how many bytes of p it consumed and whether the body is complete.
// Bytes after the body are left alone. On error the body is broken (errBadChunk) or too
// large (errBodyTooLarge) and the connection cannot continue.
func (c *chunkDecoder) decode(dst, p []byte, out chunkOut) ([]byte, int, bool, error) {
	if c.state == csDone {
		return dst, 0, true, nil
	}
	i := 0
	for i < len(p) {
		b := p[i]
		switch c.state {
		case csSize:
			switch {
			case isHex(b):
				if c.digits >= 16 || c.size > maxChunkSize>>4 {
					return dst, i, false, errBadChunk
				}
				c.digits++
				c.size = c.size<<4 | int64(unhex(b))
			case c.digits == 0:
				return dst, i, false, errBadChunk
			case b == ' ' || b == '\t':
				c.state = csSizeWS
			case b == ';':
				c.state = csExt
			case b == '\r':
				c.state = csSizeLF
			default:
				return dst, i, false, errBadChunk
			}
		case csSizeWS:
			// Whitespace after the size may only come before an extension.
			switch b {
			case ' ', '\t':
			case ';':
				c.state = csExt
			default:
				return dst, i, false, errBadChunk
			}
		case csExt:
			c.lineLen++
			switch {
			case c.lineLen > c.maxLine:
				return dst, i, false, errBadChunk
			case b == '\r':
				c.state = csSizeLF
			case (b < 0x20 && b != '\t') || b == 0x7f:
				return dst, i, false, errBadChunk
			}
		case csSizeLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			if err := c.endSizeLine(); err != nil {
				return dst, i, false, err
			}
		case csData:
			n := min(int64(len(p)-i), c.size)
			switch out {
			case chunkReframe:
				dst = appendChunk(dst, p[i:i+int(n)])
			case chunkRaw:
				dst = append(dst, p[i:i+int(n)]...)
			}
			c.size -= n
			i += int(n)
			if c.size == 0 {
				c.state = csDataCR
			}
			continue
		case csDataCR:
			if b != '\r' {
				return dst, i, false, errBadChunk
			}
			c.state = csDataLF
		case csDataLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			c.state = csSize
		case csTrailerStart:
			switch {
			case b == '\r':
				c.state = csEndLF
			case tokenChar(b):
				c.state = csTrailerName
			default:
				return dst, i, false, errBadChunk // obs-fold, a bare LF, or not a field
			}
		case csTrailerName:
			switch {
			case b == ':':
				c.state = csTrailerValue
			case !tokenChar(b):
				return dst, i, false, errBadChunk
			}
		case csTrailerValue:
			switch {
			case b == '\r':
				c.state = csTrailerLF
			case (b < 0x20 && b != '\t') || b == 0x7f:
				return dst, i, false, errBadChunk
			}
		case csTrailerLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			c.state = csTrailerStart
		case csEndLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			c.state = csDone
			if out == chunkReframe {
				dst = append(dst, "0\r\n\r\n"...)
			}
			return dst, i + 1, true, nil
		}
		if c.state >= csTrailerName && c.state <= csTrailerLF {
			if c.trailer++; c.trailer > c.maxTrailer {
				return dst, i, false, errBadChunk
			}
		}
		i++
	}
	return dst, i, false, nil
}

func (c *chunkDecoder) endSizeLine() error {
	c.lineLen, c.digits = 0, 0
	if c.size == 0 {
		c.state = csTrailerStart
		return nil
	}
	c.total += c.size
	if c.maxBody > 0 && c.total > c.maxBody {
		return errBodyTooLarge
	}
	c.state = csData
	return nil
}

// appendChunk appends data as one chunk: its size in hex, CRLF, the data, CRLF.
func appendChunk(dst, data []byte) []byte {
	const digits = "0123456789abcdef"
	n := len(data)
	var hex [16]byte
	k := len(hex)
	for {
		k--
		hex[k] = digits[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	dst = append(dst, hex[k:]...)
	dst = append(dst, '\r', '\n')
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
}
