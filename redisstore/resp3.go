package redisstore

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// A minimal RESP3 client for the tracking connection: go-redis reads push
// messages only when a command is sent on their connection, and the cache
// must apply an invalidation the moment it arrives.

type (
	respPush  []any
	respError string
)

func respCommand(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// readRESP reads one RESP3 value: strings (simple, bulk, verbatim),
// integers, doubles and booleans as strings, errors as respError,
// arrays, sets and maps as []any, pushes as respPush, nulls as nil.
func readRESP(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("redisstore: cache: malformed reply %q", line)
	}
	kind, rest := line[0], line[1:len(line)-2]
	switch kind {
	case '+', ':', ',', '#', '(':
		return rest, nil
	case '-':
		return respError(rest), nil
	case '_':
		return nil, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 || n > 512<<20 {
			return nil, fmt.Errorf("redisstore: cache: malformed length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if kind == '!' {
			return respError(b[:n]), nil
		}
		return string(b[:n]), nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 || n > 1<<24 {
			return nil, fmt.Errorf("redisstore: cache: malformed length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = readRESP(r); err != nil {
				return nil, err
			}
		}
		switch kind {
		case '>':
			return respPush(a), nil
		case '|': // attributes precede the value they describe
			return readRESP(r)
		}
		return a, nil
	}
	return nil, fmt.Errorf("redisstore: cache: unknown reply type %q", kind)
}
