package exchange

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/pause"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// param is a named parameter; a bool value is a switch (-Force, or
// -Confirm:$false when false). PSRP sends a [bool] argument the same way;
// boolParam marks one so that it shows as PowerShell shows it.
func param(name string, v psrp.Value) psrp.Parameter { return psrp.Parameter{Name: name, Value: v} }

// boolParam is a [bool] parameter (-MAPIBlockOutlookRpcHttp:$true).
func boolParam(name string, v bool) psrp.Parameter {
	return psrp.Parameter{Name: name, Value: v, Bool: true}
}

// command builds one command of a pipeline.
func command(name string, params ...psrp.Parameter) psrp.Command {
	return psrp.Command{Name: name, Params: params}
}

// selectProps trims the objects to the named properties on the server,
// so only they travel.
func selectProps(names ...string) psrp.Command {
	list := make([]psrp.Value, len(names))
	for i, n := range names {
		list[i] = n
	}
	return command("Select-Object", param("Property", psrp.NewList(list...)))
}

// pipeline joins commands into one pipeline.
func pipeline(cmds ...psrp.Command) psrp.Pipeline { return psrp.Pipeline{Commands: cmds} }

// strValues turns strings into pipeline input.
func strValues(ss []string) []psrp.Value {
	out := make([]psrp.Value, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// runPipeline runs one pipeline of operation op: warnings go to
// OnWarning, a terminating error becomes an OpError in the server's
// words (transient when it is Exchange throttling or a broken session).
// Non-terminating error records are in the result for the operation to
// attribute to its items.
func (c *Client) runPipeline(ctx context.Context, op string, pl psrp.Pipeline, input []psrp.Value) (*psrp.Result, error) {
	if c.p == nil {
		return nil, &OpError{Op: op, Err: errors.New("no Exchange PowerShell session")}
	}
	res, err := c.p.Run(ctx, pl, input)
	if res != nil && c.OnWarning != nil {
		for _, w := range res.Warnings {
			c.OnWarning(op, w)
		}
	}
	if err != nil {
		oe := &OpError{Op: op, Err: fmt.Errorf("%s: %w", pl.Commands[0].Name, err)}
		if errkind.IsTransient(err) || wsman.IsThrottling(err.Error()) {
			return nil, errkind.Transient(oe)
		}
		return nil, oe
	}
	return res, nil
}

// readPipeline runs a read: any error record fails it (throttling as a
// transient error).
//
// A read changes nothing, so a transient failure (an HTTP 5xx, a dropped
// connection, throttling, a broken session that the Session reopens) is
// retried here, with backoff, up to readAttempts times: an operation made
// of many reads then survives faults that would otherwise fail it whole.
func (c *Client) readPipeline(ctx context.Context, op string, pl psrp.Pipeline, input []psrp.Value) ([]psrp.Value, error) {
	var out []psrp.Value
	err := retryRead(ctx, func() error {
		res, err := c.runPipeline(ctx, op, pl, input)
		if err == nil && len(res.Errors) > 0 {
			err = recordError(op, pl, res.Errors[0])
		}
		if err == nil {
			out = res.Output
		}
		return err
	})
	return out, err
}

// readResult runs a read whose error records the caller judges (a group
// that is not found, a cmdlet the account may not run): like
// readPipeline, a transient failure of the pipeline, or a first error
// record that is Exchange throttling, is retried.
func (c *Client) readResult(ctx context.Context, op string, pl psrp.Pipeline) (*psrp.Result, error) {
	var out *psrp.Result
	err := retryRead(ctx, func() error {
		res, err := c.runPipeline(ctx, op, pl, nil)
		if err == nil && len(res.Errors) > 0 && wsman.IsThrottling(res.Errors[0].Message) {
			err = recordError(op, pl, res.Errors[0])
		}
		if err == nil {
			out = res
		}
		return err
	})
	return out, err
}

// retryRead calls read until it succeeds, fails for good, or failed
// transiently readAttempts times, with backoff between the calls. A
// session that could not be opened is not retried here: the transport
// retried its opening already (dialError).
func retryRead(ctx context.Context, read func() error) error {
	var err error
	for attempt := 0; attempt < readAttempts; attempt++ {
		if attempt > 0 {
			if pause.For(ctx, readBackoff<<(attempt-1)) != nil {
				return err
			}
		}
		err = read()
		var de *dialError
		if err == nil || !errkind.IsTransient(err) || errors.As(err, &de) {
			return err
		}
	}
	return err
}

// readAttempts and readBackoff bound the retries of a read.
const (
	readAttempts = 5
	readBackoff  = 200 * time.Millisecond
)

// recordError is an OpError from a server's error record, transient when
// the server throttled.
func recordError(op string, pl psrp.Pipeline, rec *psrp.ErrorRecord) error {
	oe := &OpError{Op: op, Err: fmt.Errorf("%s: %w", pl.Commands[0].Name, rec)}
	if wsman.IsThrottling(rec.Message) {
		return errkind.Transient(oe)
	}
	return oe
}

// row reads the properties of one output object; the first problem is
// kept in err, naming the operation, the object's index and the property.
type row struct {
	op  string
	i   int
	o   *psrp.Object
	err error
}

// rows turns a pipeline's output into rows; anything that is not an
// object fails.
func rows(op string, out []psrp.Value) ([]*row, error) {
	rs := make([]*row, 0, len(out))
	for i, v := range out {
		o, ok := v.(*psrp.Object)
		if !ok || o == nil {
			return nil, badOutput(op, "item %d is %T, expected an object", i, v)
		}
		rs = append(rs, &row{op: op, i: i, o: o})
	}
	return rs, nil
}

func (r *row) fail(format string, args ...any) {
	if r.err == nil {
		r.err = badOutput(r.op, "item %d: "+format, append([]any{r.i}, args...)...)
	}
}

// value returns the property; a property the object does not carry at
// all is an error (Select-Object adds every property it was asked for,
// null when the object had none).
func (r *row) value(name string) psrp.Value {
	v, ok := r.o.Get(name)
	if !ok {
		r.fail("property %s is missing", name)
	}
	return v
}

// str reads a property as its string form ("" when null).
func (r *row) str(name string) string {
	s, ok := asString(r.value(name))
	if !ok {
		r.fail("property %s is not a single value", name)
	}
	return s
}

// need reads a string property that must not be empty.
func (r *row) need(name string) string {
	v := r.value(name)
	s, _ := asString(v)
	if s == "" && r.err == nil {
		r.fail("property %s is empty", name)
	}
	return s
}

// guid reads a GUID property in its canonical form.
func (r *row) guid(name string) string {
	s := r.need(name)
	if s == "" {
		return ""
	}
	u, err := uuid.Parse(s)
	if err != nil {
		r.fail("property %s (%q) is not a GUID", name, s)
		return ""
	}
	return u.String()
}

// boolean reads a bool property (null is false).
func (r *row) boolean(name string) bool {
	b, _ := r.optBool(name)
	return b
}

// optBool reads a nullable bool property.
func (r *row) optBool(name string) (bool, bool) {
	switch x := r.value(name).(type) {
	case nil:
		return false, false
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(x)
		if err != nil {
			r.fail("property %s (%q) is not a boolean", name, x)
		}
		return b, err == nil
	case *psrp.Object:
		if b, ok := x.Primitive.(bool); ok {
			return b, true
		}
	}
	r.fail("property %s is not a boolean", name)
	return false, false
}

// time reads a date property in UTC (null is the zero time).
func (r *row) time(name string) time.Time {
	switch x := r.value(name).(type) {
	case nil:
		return time.Time{}
	case time.Time:
		return x.UTC()
	case string:
		t, err := time.Parse(time.RFC3339, x)
		if err != nil {
			r.fail("property %s (%q) is not a date", name, x)
		}
		return t.UTC()
	}
	r.fail("property %s is not a date", name)
	return time.Time{}
}

// integer reads an integer property (null is 0).
func (r *row) integer(name string) int64 {
	switch x := r.value(name).(type) {
	case nil:
		return 0
	case int32:
		return int64(x)
	case int64:
		return x
	case int16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint16:
		return int64(x)
	case uint8:
		return int64(x)
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			r.fail("property %s (%q) is not an integer", name, x)
		}
		return n
	}
	r.fail("property %s is not an integer", name)
	return 0
}

// list reads a multi-valued property as strings (null is empty; a single
// value is a list of one).
func (r *row) list(name string) []string {
	v := r.value(name)
	if o, ok := v.(*psrp.Object); ok && o.Kind != psrp.NoContainer && o.Kind != psrp.DictContainer {
		out := make([]string, 0, len(o.Items))
		for j, it := range o.Items {
			s, ok := asString(it)
			if !ok {
				r.fail("property %s item %d is not a single value", name, j)
			}
			out = append(out, s)
		}
		return out
	}
	if v == nil {
		return nil
	}
	s, ok := asString(v)
	if !ok {
		r.fail("property %s is not a list", name)
	}
	return []string{s}
}

// bytes reads a byte-array property.
func (r *row) bytes(name string) []byte {
	switch x := r.value(name).(type) {
	case nil:
		return nil
	case []byte:
		return x
	}
	r.fail("property %s is not a byte array", name)
	return nil
}

// asString is a value's string form as Exchange flattens it at the
// Partial serialization level: strings as they are, GUIDs, numbers and
// booleans as PowerShell prints them, objects by their wrapped primitive
// or ToString. A collection is not a single value.
func asString(v psrp.Value) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case uuid.UUID:
		return x.String(), true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case int16, uint16, int8, uint8, uint64:
		return fmt.Sprint(x), true
	case psrp.URI:
		return string(x), true
	case psrp.Version:
		return string(x), true
	case psrp.Char:
		return string(rune(x)), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case *psrp.Object:
		if x == nil {
			return "", true
		}
		if x.Kind != psrp.NoContainer {
			return "", false
		}
		if x.Primitive != nil {
			if s, ok := asString(x.Primitive); ok && x.ToString == "" {
				return s, true
			}
		}
		return x.ToString, true
	}
	return fmt.Sprint(v), true
}

// itemErrors attributes a write pipeline's error records to the items
// (identities) that were sent: a record names its item by its target
// object, target name or, failing those, by the identity in its message.
// A record that names no item sent fails the batch.
func itemErrors(op string, pl psrp.Pipeline, recs []*psrp.ErrorRecord, ids []string) (map[string]string, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	byID := make(map[string]string, len(ids))
	for _, id := range ids {
		byID[strings.ToLower(id)] = id
	}
	failed := map[string]string{}
	for _, rec := range recs {
		id := ""
		for _, cand := range recordNames(rec) {
			if got, ok := byID[strings.ToLower(strings.TrimSpace(cand))]; ok {
				id = got
				break
			}
		}
		if id == "" {
			msg := strings.ToLower(rec.Message)
			for low, orig := range byID {
				if strings.Contains(msg, low) {
					id = orig
					break
				}
			}
		}
		if id == "" {
			return nil, recordError(op, pl, rec)
		}
		if _, dup := failed[id]; !dup {
			failed[id] = rec.Message
		}
	}
	return failed, nil
}

func recordNames(rec *psrp.ErrorRecord) []string {
	var out []string
	if s, ok := asString(rec.Target); ok && s != "" {
		out = append(out, s)
	}
	if rec.TargetName != "" {
		out = append(out, rec.TargetName)
	}
	return out
}

// asOpError reports whether err is (or wraps) an *OpError and is not
// transient: an item's own failure, not the session's.
func asOpError(err error, target **OpError) bool {
	return !errkind.IsTransient(err) && errors.As(err, target)
}
