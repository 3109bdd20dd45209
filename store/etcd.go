package store

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is the store of a cluster: the revisions and the event log live in
// etcd under a prefix, so every node reads, commits to and watches the same
// chain. Under the prefix:
//
//	format         "gtm-store 1"
//	current        the current revision, in decimal
//	rev/%016x      each kept revision (the JSON record Bolt keeps)
//	event-seq      the last event Seq assigned, in decimal
//	events/%016x   each kept event, as JSON
//
// A commit is one etcd transaction: if current still holds the expected
// revision (or is missing, for 0), put the new revisions and current, and
// delete the revisions beyond Keep. etcd acknowledges it once a quorum of
// members has it on disk.
type Etcd struct {
	cli        *clientv3.Client
	own        bool // the client is ours to close
	prefix     string
	keepEvents int

	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // watchers
}

// EtcdConfig is how to reach etcd and where gtm's keys are.
type EtcdConfig struct {
	// Endpoints are the etcd members' client URLs
	// ("https://10.0.0.1:2379"); unused when Client is set.
	Endpoints []string
	// Prefix is put before every key gtm writes; DefaultEtcdPrefix if
	// empty. Several gtm clusters can share an etcd under different
	// prefixes.
	Prefix string
	// TLS is the client's TLS configuration (certificate, key and CA), nil
	// for plain connections.
	TLS *tls.Config
	// Username and Password, when etcd's authentication is on.
	Username, Password string
	// DialTimeout bounds opening: the first connection and the check of
	// what is under the prefix. 5 s if 0.
	DialTimeout time.Duration
	// KeepEvents is how many events are kept; KeepEvents if less than 1.
	KeepEvents int
	// Client, when set, is used instead of dialling (a node shares its
	// client with its leases); the store then leaves it open on Close.
	Client *clientv3.Client
}

// DefaultEtcdPrefix is where gtm's keys are unless configured.
const DefaultEtcdPrefix = "/gtm/"

// etcdMaxTxnOps is etcd's default bound on the operations of one
// transaction (--max-txn-ops). A commit of n revisions takes n + 2 (the
// revisions, current, the pruning), so MaxEtcdBatch revisions at most.
const etcdMaxTxnOps = 128

// MaxEtcdBatch is the most revisions one CommitMany may hold on etcd: the
// batch is one transaction, all or none, and etcd bounds a transaction's
// operations. A batch's revisions together must also fit in one etcd
// request (--max-request-bytes, 1.5 MiB by default).
const MaxEtcdBatch = etcdMaxTxnOps - 2

// ErrBatchTooLarge is a CommitMany of more revisions than the store can
// commit in one transaction.
var ErrBatchTooLarge = errors.New("store: too many revisions for one commit")

// eventChunk is the most events one etcd transaction appends: the events,
// the counter and the pruning must fit in etcdMaxTxnOps.
const eventChunk = 100

// eventChunkBytes bounds the events of one transaction, under etcd's
// default request size of 1.5 MiB.
const eventChunkBytes = 1 << 20

// OpenEtcd connects to etcd and opens the store under cfg.Prefix: an empty
// prefix becomes a store, one that holds a gtm store of this format is
// used, anything else is refused with the prefix named and left as it is.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	e := &Etcd{prefix: cfg.Prefix, keepEvents: cfg.KeepEvents, closed: make(chan struct{})}
	if e.prefix == "" {
		e.prefix = DefaultEtcdPrefix
	}
	if e.keepEvents < 1 {
		e.keepEvents = KeepEvents
	}
	dial := cfg.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	e.cli = cfg.Client
	if e.cli == nil {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   cfg.Endpoints,
			TLS:         cfg.TLS,
			Username:    cfg.Username,
			Password:    cfg.Password,
			DialTimeout: dial,
			// A connection that went silent (a cut network) is noticed
			// and redialled within seconds, not at TCP's timeouts.
			DialKeepAliveTime:    2 * time.Second,
			DialKeepAliveTimeout: 2 * time.Second,
			Logger:               zap.NewNop(),
			Context:              context.WithoutCancel(ctx),
		})
		if err != nil {
			return nil, fmt.Errorf("store etcd %v: %w", cfg.Endpoints, err)
		}
		e.cli, e.own = cli, true
	}
	octx, cancel := context.WithTimeout(ctx, dial)
	defer cancel()
	if err := e.check(octx); err != nil {
		if e.own {
			e.cli.Close()
		}
		return nil, fmt.Errorf("store etcd %v prefix %q: %w", e.cli.Endpoints(), e.prefix, err)
	}
	return e, nil
}

// check makes an empty prefix a store, and refuses a prefix that holds
// something else, or a store whose current revision is missing.
func (e *Etcd) check(ctx context.Context) error {
	fk := e.prefix + "format"
	r, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(fk), "=", 0)).
		Then(clientv3.OpGet(e.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1))).
		Else(clientv3.OpGet(fk), clientv3.OpGet(e.prefix+"current")).
		Commit()
	if err != nil {
		return err
	}
	if r.Succeeded {
		if len(r.Responses[0].GetResponseRange().Kvs) > 0 {
			return errors.New("not a gtm store (its keys are not gtm's)")
		}
		// Empty: mark it, unless another node did meanwhile.
		r, err := e.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(fk), "=", 0)).
			Then(clientv3.OpPut(fk, format)).
			Commit()
		if err != nil {
			return err
		}
		if !r.Succeeded {
			return e.check(ctx)
		}
		return nil
	}
	if f := string(r.Responses[0].GetResponseRange().Kvs[0].Value); f != format {
		return fmt.Errorf("not a gtm store of this version (format %q, want %q)", f, format)
	}
	if kvs := r.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
		cur, err := parseUint(kvs[0].Value)
		if err != nil {
			return errors.New("its current revision is unreadable")
		}
		if _, err := e.Get(ctx, cur); err != nil {
			return fmt.Errorf("its current revision %d is missing or unreadable", cur)
		}
	}
	return nil
}

// Client is the store's etcd client, for what a node keeps beside the
// store (leases, verdicts).
func (e *Etcd) Client() *clientv3.Client { return e.cli }

// Prefix is where the store's keys are.
func (e *Etcd) Prefix() string { return e.prefix }

func (e *Etcd) revKey(rev uint64) string   { return fmt.Sprintf("%srev/%016x", e.prefix, rev) }
func (e *Etcd) eventKey(seq uint64) string { return fmt.Sprintf("%sevents/%016x", e.prefix, seq) }
func (e *Etcd) currentKey() string         { return e.prefix + "current" }
func (e *Etcd) seqKey() string             { return e.prefix + "event-seq" }

func parseUint(v []byte) (uint64, error) { return strconv.ParseUint(string(v), 10, 64) }

// revOf is the revision a rev/ key names.
func (e *Etcd) revOf(k []byte) (uint64, bool) {
	p := len(e.prefix) + len("rev/")
	if len(k) != p+16 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(k[p:]), 16, 64)
	return n, err == nil
}

func (e *Etcd) live() error {
	select {
	case <-e.closed:
		return ErrClosed
	default:
		return nil
	}
}

// Current implements Store: the current revision, then its record read at
// the same etcd revision, so they agree.
func (e *Etcd) Current(ctx context.Context) (Revision, error) {
	if err := e.live(); err != nil {
		return Revision{}, err
	}
	r, err := e.cli.Get(ctx, e.currentKey())
	if err != nil {
		return Revision{}, err
	}
	if len(r.Kvs) == 0 {
		return Revision{}, nil
	}
	cur, err := parseUint(r.Kvs[0].Value)
	if err != nil {
		return Revision{}, fmt.Errorf("store: the current revision is unreadable: %q", r.Kvs[0].Value)
	}
	rev, err := e.get(ctx, cur, clientv3.WithRev(r.Header.Revision))
	if errors.Is(err, ErrNotFound) {
		return Revision{}, fmt.Errorf("store: the current revision %d is missing", cur)
	}
	return rev, err
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, rev uint64) (Revision, error) {
	if err := e.live(); err != nil {
		return Revision{}, err
	}
	return e.get(ctx, rev)
}

func (e *Etcd) get(ctx context.Context, rev uint64, opts ...clientv3.OpOption) (Revision, error) {
	if rev == 0 {
		return Revision{}, ErrNotFound
	}
	r, err := e.cli.Get(ctx, e.revKey(rev), opts...)
	if err != nil {
		return Revision{}, err
	}
	if len(r.Kvs) == 0 {
		return Revision{}, ErrNotFound
	}
	return decode(rev, r.Kvs[0].Value, true)
}

// Commit implements Store. The revision is on a quorum of etcd members'
// disks when Commit returns.
func (e *Etcd) Commit(ctx context.Context, expect uint64, r Revision) (Revision, error) {
	out, err := e.CommitMany(ctx, expect, []Revision{r})
	if err != nil {
		return Revision{}, err
	}
	return out[0], nil
}

// CommitMany implements Store in one etcd transaction: all or none. A batch
// of more than MaxEtcdBatch revisions is refused with ErrBatchTooLarge, and
// nothing is committed.
func (e *Etcd) CommitMany(ctx context.Context, expect uint64, rs []Revision) ([]Revision, error) {
	if err := e.live(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(rs) > MaxEtcdBatch {
		return nil, fmt.Errorf("%w: %d, at most %d on etcd", ErrBatchTooLarge, len(rs), MaxEtcdBatch)
	}
	cmp := clientv3.Compare(clientv3.Value(e.currentKey()), "=", strconv.FormatUint(expect, 10))
	if expect == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(e.currentKey()), "=", 0)
	}
	if len(rs) == 0 {
		r, err := e.cli.Txn(ctx).If(cmp).Commit()
		if err == nil && !r.Succeeded {
			err = ErrConflict
		}
		return []Revision{}, err
	}
	now := time.Now().UTC()
	out := make([]Revision, len(rs))
	ops := make([]clientv3.Op, 0, len(rs)+2)
	for i, r := range rs {
		r.Rev, r.Time = expect+1+uint64(i), now
		v, err := json.Marshal(record{Time: r.Time, Who: r.Who, Comment: r.Comment, Change: r.Change, Data: r.Data})
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpPut(e.revKey(r.Rev), string(v)))
		out[i] = r
	}
	last := expect + uint64(len(rs))
	ops = append(ops, clientv3.OpPut(e.currentKey(), strconv.FormatUint(last, 10)))
	if last > Keep {
		// Every revision up to last-Keep: the key range [rev/0, rev/last-Keep+1).
		ops = append(ops, clientv3.OpDelete(e.revKey(0), clientv3.WithRange(e.revKey(last-Keep+1))))
	}
	r, err := e.cli.Txn(ctx).If(cmp).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	if !r.Succeeded {
		return nil, ErrConflict
	}
	return out, nil
}

// History implements Store.
func (e *Etcd) History(ctx context.Context, before uint64, limit int) ([]Revision, error) {
	if err := e.live(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	end := e.prefix + "rev0" // just past every rev/ key
	if before != 0 {
		end = e.revKey(before)
	}
	r, err := e.cli.Get(ctx, e.revKey(0), clientv3.WithRange(end),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	out := make([]Revision, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		rev, ok := e.revOf(kv.Key)
		if !ok {
			continue
		}
		h, err := decode(rev, kv.Value, false)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Watch implements Store. It reads the revisions after after that are
// there, at one etcd revision, then watches the rev/ keys from just after
// that etcd revision, so every revision is delivered once, in order. A
// watcher whose next revision was pruned, whose reader fell watchBuffer
// behind, or whose etcd watch was cancelled (its start compacted away, the
// client closed) is dropped: its channel closes.
func (e *Etcd) Watch(ctx context.Context, after uint64) (<-chan Revision, error) {
	if err := e.live(); err != nil {
		return nil, err
	}
	out := make(chan Revision, watchBuffer)
	wctx, cancel := context.WithCancel(ctx)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(out)
		defer cancel()
		go func() { // Close ends every watcher
			select {
			case <-e.closed:
				cancel()
			case <-wctx.Done():
			}
		}()
		next := after + 1
		send := func(r Revision) bool {
			select {
			case out <- r:
				next++
				return true
			default:
				return false // the reader is too far behind
			}
		}
		// What is there already, a page at a time, at one etcd revision.
		var at int64
		for {
			opts := []clientv3.OpOption{clientv3.WithRange(e.prefix + "rev0"), clientv3.WithLimit(watchBuffer)}
			if at != 0 {
				opts = append(opts, clientv3.WithRev(at))
			}
			r, err := e.cli.Get(wctx, e.revKey(next), opts...)
			if err != nil {
				return
			}
			if at == 0 {
				at = r.Header.Revision
			}
			for _, kv := range r.Kvs {
				rev, ok := e.revOf(kv.Key)
				if !ok || rev != next {
					return // pruned past this watcher: it must start again
				}
				d, err := decode(rev, kv.Value, true)
				if err != nil || !send(d) {
					return
				}
			}
			if !r.More {
				break
			}
		}
		// Nothing at next: is it yet to come, or pruned?
		c, err := e.cli.Get(wctx, e.currentKey(), clientv3.WithRev(at))
		if err != nil {
			return
		}
		if len(c.Kvs) > 0 {
			if cur, err := parseUint(c.Kvs[0].Value); err != nil || cur >= next {
				return
			}
		}
		wch := e.cli.Watch(clientv3.WithRequireLeader(wctx), e.prefix+"rev/", clientv3.WithPrefix(), clientv3.WithRev(at+1))
		for resp := range wch {
			if resp.Err() != nil || resp.Canceled {
				return
			}
			for _, ev := range resp.Events {
				if ev.Type != mvccpb.PUT {
					continue // pruning
				}
				rev, ok := e.revOf(ev.Kv.Key)
				if !ok {
					continue
				}
				if rev < next {
					continue
				}
				if rev > next {
					return // a gap: cannot happen but by hand; start again
				}
				d, err := decode(rev, ev.Kv.Value, true)
				if err != nil || !send(d) {
					return
				}
			}
		}
	}()
	return out, nil
}

// Close implements Store: the watchers end and their channels close; the
// client closes if the store dialled it.
func (e *Etcd) Close() error {
	var err error
	e.once.Do(func() {
		close(e.closed)
		e.wg.Wait()
		if e.own {
			err = e.cli.Close()
		}
	})
	return err
}

// AppendEvents implements EventLog. Up to 100 events (and 1 MiB of them)
// are one etcd transaction: if the Seq counter has not moved, put the
// events and the counter and delete the events beyond the bound; when
// another node appended first, read the counter again and retry. A larger
// call first reserves its Seqs in one transaction (so they are consecutive
// whatever other nodes append) and then writes its events in transactions
// of that size; if it fails part way the Seqs it reserved and did not
// write are never used, and the error says so.
func (e *Etcd) AppendEvents(ctx context.Context, events []Event) ([]Event, error) {
	if err := e.live(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]Event, len(events))
	copy(out, events)
	now := time.Now().UTC()
	for i := range out {
		if out[i].Time.IsZero() {
			out[i].Time = now
		}
		out[i].Time = out[i].Time.Round(0)
	}
	chunks := eventChunks(out)
	if len(chunks) == 1 {
		return out, e.appendCAS(ctx, out)
	}
	first, err := e.reserve(ctx, uint64(len(out)))
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Seq = first + uint64(i)
	}
	last := out[len(out)-1].Seq
	for _, c := range chunks {
		if c[len(c)-1].Seq+uint64(e.keepEvents) <= last {
			continue // pruned by the call's last chunk anyway
		}
		ops, err := e.eventOps(c, last)
		if err != nil {
			return nil, err
		}
		ops = append(ops, e.pruneEvents(c[len(c)-1].Seq)...)
		if _, err := e.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return nil, fmt.Errorf("store: events %d…%d appended up to %d: %w", first, first+uint64(len(out))-1, c[0].Seq-1, err)
		}
	}
	return out, nil
}

// eventChunks splits events into the transactions that write them.
func eventChunks(evs []Event) [][]Event {
	var chunks [][]Event
	start, size := 0, 0
	for i := range evs {
		n := 256 + len(evs[i].Reason) + len(evs[i].Object) // a generous estimate of its JSON
		for _, s := range [][]string{evs[i].Instances, evs[i].Pools, evs[i].Addresses} {
			for _, x := range s {
				n += len(x) + 8
			}
		}
		if i > start && (i-start == eventChunk || size+n > eventChunkBytes) {
			chunks = append(chunks, evs[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(chunks, evs[start:])
}

// readSeq is the last Seq assigned and the counter's mod revision (0 when
// no event was ever appended).
func (e *Etcd) readSeq(ctx context.Context) (uint64, int64, error) {
	r, err := e.cli.Get(ctx, e.seqKey())
	if err != nil {
		return 0, 0, err
	}
	if len(r.Kvs) == 0 {
		return 0, 0, nil
	}
	seq, err := parseUint(r.Kvs[0].Value)
	if err != nil {
		return 0, 0, fmt.Errorf("store: the event counter is unreadable: %q", r.Kvs[0].Value)
	}
	return seq, r.Kvs[0].ModRevision, nil
}

// casAttempts bounds the retries of a compare-and-swap on the counter that
// other nodes keep moving.
const casAttempts = 100

// appendCAS appends events (one transaction's worth) after the counter.
func (e *Etcd) appendCAS(ctx context.Context, out []Event) error {
	for range casAttempts {
		seq, mod, err := e.readSeq(ctx)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Seq = seq + 1 + uint64(i)
		}
		last := out[len(out)-1].Seq
		ops, err := e.eventOps(out, last)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(e.seqKey(), strconv.FormatUint(last, 10)))
		ops = append(ops, e.pruneEvents(last)...)
		r, err := e.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(e.seqKey()), "=", mod)).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("store: append events: %w", err)
		}
		if r.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("store: append events: the counter moved %d times in a row", casAttempts)
}

// reserve takes n Seqs and returns the first.
func (e *Etcd) reserve(ctx context.Context, n uint64) (uint64, error) {
	for range casAttempts {
		seq, mod, err := e.readSeq(ctx)
		if err != nil {
			return 0, err
		}
		r, err := e.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(e.seqKey()), "=", mod)).
			Then(clientv3.OpPut(e.seqKey(), strconv.FormatUint(seq+n, 10))).Commit()
		if err != nil {
			return 0, fmt.Errorf("store: append events: %w", err)
		}
		if r.Succeeded {
			return seq + 1, nil
		}
	}
	return 0, fmt.Errorf("store: append events: the counter moved %d times in a row", casAttempts)
}

// eventOps puts the events of evs that are among the newest keepEvents
// when last is the newest: an event the same transaction would prune is
// not written (etcd refuses a transaction that puts a key it deletes).
func (e *Etcd) eventOps(evs []Event, last uint64) ([]clientv3.Op, error) {
	ops := make([]clientv3.Op, 0, len(evs)+2)
	for i := range evs {
		if evs[i].Seq+uint64(e.keepEvents) <= last {
			continue
		}
		v, err := json.Marshal(evs[i])
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpPut(e.eventKey(evs[i].Seq), string(v)))
	}
	return ops, nil
}

// pruneEvents deletes the events older than the newest keepEvents, the
// newest being last.
func (e *Etcd) pruneEvents(last uint64) []clientv3.Op {
	keep := uint64(e.keepEvents)
	if last <= keep {
		return nil
	}
	return []clientv3.Op{clientv3.OpDelete(e.eventKey(0), clientv3.WithRange(e.eventKey(last-keep+1)))}
}

// eventOf is the Seq an events/ key names.
func (e *Etcd) eventOf(k []byte) (uint64, bool) {
	p := len(e.prefix) + len("events/")
	if len(k) != p+16 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(k[p:]), 16, 64)
	return n, err == nil
}

// Events implements EventLog: the same walk as Bolt's, newest first, read
// from etcd a page at a time at one etcd revision.
func (e *Etcd) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	if err := e.live(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, stop, needles := f.walk()
	start := e.eventKey(f.After + 1)
	end := e.prefix + "events0" // just past every events/ key
	if f.Before != 0 {
		if f.Before <= f.After+1 {
			return nil, nil
		}
		end = e.eventKey(f.Before)
	}
	var out []Event
	var at int64
	const page = 500
	for len(out) < limit {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend),
			clientv3.WithLimit(page)}
		if at != 0 {
			opts = append(opts, clientv3.WithRev(at))
		}
		r, err := e.cli.Get(ctx, start, opts...)
		if err != nil {
			return nil, err
		}
		at = r.Header.Revision
		for _, kv := range r.Kvs {
			seq, ok := e.eventOf(kv.Key)
			if !ok || !containsAll(kv.Value, needles) {
				continue
			}
			var ev Event
			if json.Unmarshal(kv.Value, &ev) != nil {
				continue
			}
			ev.Seq = seq
			if !f.Since.IsZero() && ev.Time.Before(f.Since) {
				if ev.Time.Before(stop) {
					return out, nil
				}
				continue
			}
			if f.matches(&ev) {
				out = append(out, ev)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if !r.More || len(r.Kvs) == 0 {
			break
		}
		end = string(r.Kvs[len(r.Kvs)-1].Key)
	}
	return out, nil
}

var _ Store = (*Etcd)(nil)
