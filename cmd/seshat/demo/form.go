package demo

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"unicode"
	"unicode/utf8"
)

// maxUserBytes is the longest user name the demo accepts.
const maxUserBytes = 128

// form parses the body of a form post, urlencoded or multipart, within
// a.maxForm bytes. When it cannot, it answers 413 (too large), 408 (the
// server's read timeout passed) or 400 (malformed) and reports false: a handler then stores nothing, since a
// form that failed to parse is not an empty form.
func (a *app) form(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, a.maxForm)
	var err error
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		// Parts may be held in memory up to the same cap as the body, so
		// none ever goes to a temporary file.
		err = r.ParseMultipartForm(a.maxForm)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("request body too large: a form holds at most %d bytes; nothing was changed", tooLarge.Limit), http.StatusRequestEntityTooLarge)
			return nil, false
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			http.Error(w, "request body not received in time; nothing was changed", http.StatusRequestTimeout)
			return nil, false
		}
		http.Error(w, "malformed form: "+err.Error()+"; nothing was changed", http.StatusBadRequest)
		return nil, false
	}
	return r.PostForm, true
}

// validUser reports whether a user name is UTF-8 text that is safe to show
// anywhere: no C0 or C1 control (ESC, CR, LF, NUL, tab…), no DEL, and no
// character that reorders a line (bidirectional overrides, isolates and
// marks) or breaks one (U+2028, U+2029).
func validUser(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}
