package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

func (r *Redis) batchKey(id string) string   { return r.opts.Prefix + ":batch:" + id }
func (r *Redis) namesKey(id string) string   { return r.batchKey(id) + ":names" }
func (r *Redis) resultsKey(id string) string { return r.batchKey(id) + ":results" }

// sendingKey is the sorted set of the batches being sent, scored by when their send lease ends.
func (r *Redis) sendingKey() string { return r.opts.Prefix + ":batches:sending" }

// createBatchScript: KEYS batch, names, sending; ARGV total, spec, created, updated, names, ttl
// (ms), id, send lease (ms; 0: sent). Returns 1, or 0 if the batch exists.
var createBatchScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'total', ARGV[1], 'done', 0, 'failed', 0,
  'spec', ARGV[2], 'created', ARGV[3], 'updated', ARGV[4], 'error', '')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
if tonumber(ARGV[8]) > 0 then
  local by = servernow() + tonumber(ARGV[8])
  redis.call('HSET', KEYS[1], 'send_by', by)
  redis.call('ZADD', KEYS[3], by, ARGV[7])
end
return 1
`)

// luaSending checks a batch being sent: sending returns the batch's status, or nil when there
// is no batch, and whether it is still being sent (running or queued, under a send lease).
const luaSending = `
local function sending(key, set, id)
  local st = redis.call('HGET', key, 'status')
  if not st then return nil, false end
  return st, (st == 'queued' or st == 'running') and redis.call('ZSCORE', set, id) ~= false
end
`

// renewSendScript: KEYS batch, sending; ARGV id, lease (ms). Returns 1 if the lease moved, 0
// if the batch is not being sent, -1 if there is no batch.
var renewSendScript = redis.NewScript(luaPrelude + luaSending + `
local st, open = sending(KEYS[1], KEYS[2], ARGV[1])
if not st then return -1 end
if not open then return 0 end
local by = servernow() + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'send_by', by)
redis.call('ZADD', KEYS[2], by, ARGV[1])
return 1
`)

// batchSentScript: KEYS batch, sending; ARGV id. Ends the send lease. Returns 1, 0 if the batch
// failed, -1 if there is no batch.
var batchSentScript = redis.NewScript(luaSending + `
local st = sending(KEYS[1], KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not st then return -1 end
redis.call('HDEL', KEYS[1], 'send_by')
if st == 'failed' then return 0 end
return 1
`)

// luaBatchEvents emits a batch's events: emitBatch appends one and publishes it, with its ID,
// on the live channel (as emit does for model events, whose fields it has too, empty, so that
// a reader that knows no batch events still reads the feed); batchDone emits batch_done with
// the record's final counts.
const luaBatchEvents = `
local function emitBatch(stream, maxlen, channel, typ, batch, ts, data)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
    'type', typ, 'model', '', 'gen', 0, 'job', '', 'batch', batch, 'ts', ts, 'data', data)
  redis.call('PUBLISH', channel, cjson.encode({id = id, type = typ, model = '', gen = '0', job = '',
    batch = batch, ts = tostring(ts), data = data}))
  return id
end

-- batchProgress emits batch_progress with the record's counts, unless one went out less than
-- interval ms ago (by the server's clock, which every processor shares); it returns whether it
-- emitted.
local function batchProgress(key, stream, maxlen, channel, batch, ts, interval)
  local b = redis.call('HMGET', key, 'emitted', 'created', 'done', 'failed', 'total')
  local now = servernow()
  if now - (tonumber(b[1]) or 0) < interval then return false end
  local done, failed, total = tonumber(b[3]), tonumber(b[4]), tonumber(b[5])
  redis.call('HSET', key, 'emitted', now, 'emitted_done', done)
  local eta = math.floor(math.max(tonumber(ts) - tonumber(b[2]), 0) * (total - done) / done)
  local data = string.format('{"done":%d,"failed":%d,"total":%d,"eta_ms":%d}', done, failed, total, eta)
  emitBatch(stream, maxlen, channel, 'batch_progress', batch, ts, data)
  return true
end

local function batchDone(key, stream, maxlen, channel, batch, ts)
  local b = redis.call('HMGET', key, 'status', 'done', 'failed', 'total')
  local data = string.format('{"status":%s,"done":%d,"failed":%d,"total":%d}',
    cjson.encode(b[1]), tonumber(b[2]), tonumber(b[3]), tonumber(b[4]))
  emitBatch(stream, maxlen, channel, 'batch_done', batch, ts, data)
end
`

// batchResultScript: KEYS batch, results, events; ARGV index, result, failed (0|1), now, batch
// id, maxlen, channel, progress interval (ms). Records the result of a series once, while the
// batch runs, and counts it; emits batch_done after the last series, and otherwise
// batch_progress unless the batch had one less than the interval ago. Returns 1 if recorded, 2
// if recorded and its batch_progress coalesced, 0 if not recorded (a result already there, or
// the batch has ended), -1 if there is no batch, -2 if the batch has no such series.
var batchResultScript = redis.NewScript(luaPrelude + luaBatchEvents + `
local b = redis.call('HMGET', KEYS[1], 'status', 'total')
if not b[1] then return -1 end
local index = tonumber(ARGV[1])
local total = tonumber(b[2])
if index < 0 or index >= total then return -2 end
if b[1] ~= 'queued' and b[1] ~= 'running' then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[1], 'failed', 1) end
if done >= total then
  redis.call('HSET', KEYS[1], 'status', 'succeeded', 'updated', ARGV[4])
  batchDone(KEYS[1], KEYS[3], ARGV[6], ARGV[7], ARGV[5], ARGV[4])
  return 1
end
redis.call('HSET', KEYS[1], 'status', 'running', 'updated', ARGV[4])
if batchProgress(KEYS[1], KEYS[3], ARGV[6], ARGV[7], ARGV[5], ARGV[4], tonumber(ARGV[8])) then return 1 end
return 2
`)

// flushProgressScript: KEYS batch, events; ARGV now, batch id, maxlen, channel, progress
// interval (ms). Emits batch_progress if the batch runs, a series ended since the last one and
// that one is at least the interval old. Returns 1 if it emitted, 0 if not, -1 if there is no
// batch.
var flushProgressScript = redis.NewScript(luaPrelude + luaBatchEvents + `
local b = redis.call('HMGET', KEYS[1], 'status', 'done', 'emitted_done')
if not b[1] then return -1 end
if b[1] ~= 'running' or tonumber(b[2]) <= (tonumber(b[3]) or 0) then return 0 end
if batchProgress(KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[2], ARGV[1], tonumber(ARGV[5])) then return 1 end
return 0
`)

// endBatchScript: KEYS batch, events; ARGV status, reason, now, batch id, maxlen, channel.
// Ends a batch that has not ended and emits batch_done. Returns 1, or -1 if there is no batch.
var endBatchScript = redis.NewScript(luaPrelude + luaBatchEvents + `
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if st == 'queued' or st == 'running' then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'error', ARGV[2], 'updated', ARGV[3])
  batchDone(KEYS[1], KEYS[2], ARGV[5], ARGV[6], ARGV[4], ARGV[3])
end
return 1
`)

func (r *Redis) CreateBatch(ctx context.Context, b Batch, names []string, ttl time.Duration) error {
	if err := checkNewBatch(b, names, ttl); err != nil {
		return err
	}
	now := r.opts.Now()
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = b.CreatedAt
	}
	namesJSON, err := json.Marshal(names)
	if err != nil {
		return fmt.Errorf("create batch %s: %w", b.ID, err)
	}
	cmd := r.durable(ctx, opBatchCreate, createBatchScript, []string{r.batchKey(b.ID), r.namesKey(b.ID), r.sendingKey()},
		len(names), []byte(b.Spec), ms(b.CreatedAt.UnixMilli()), ms(b.UpdatedAt.UnixMilli()), namesJSON, ttl.Milliseconds(),
		b.ID, max(b.SendLease.Milliseconds(), 0))
	created, err := cmd.Val(), cmd.Err()
	if errors.Is(err, ErrNotReplicated) && created == int64(1) {
		// Refused, so the client is told the batch was not accepted: it must not run either.
		_, ferr := r.EndBatch(context.WithoutCancel(ctx), b.ID, BatchFailed, "not accepted: "+ErrNotReplicated.Error())
		if ferr != nil && !errors.Is(ferr, ErrNotReplicated) { // refused too, but ended on the primary
			r.opts.Log.Error("mark unreplicated batch failed", "batch_id", b.ID, "err", ferr)
		}
	}
	if err != nil {
		return fmt.Errorf("create batch %s: %w", b.ID, err)
	}
	if created == int64(0) {
		return fmt.Errorf("batch %s: %w", b.ID, ErrBatchExists)
	}
	return nil
}

func (r *Redis) GetBatch(ctx context.Context, id string) (Batch, error) {
	h, err := r.rdb.HGetAll(ctx, r.batchKey(id)).Result()
	if err != nil {
		return Batch{}, fmt.Errorf("batch %s: %w", id, err)
	}
	return decodeBatch(id, h)
}

func (r *Redis) PutBatchResult(ctx context.Context, id string, index int, failed bool, result json.RawMessage) (bool, bool, error) {
	flag := "0"
	if failed {
		flag = "1"
	}
	code, err := r.durable(ctx, opBatchResult, batchResultScript, []string{r.batchKey(id), r.resultsKey(id), r.eventsKey()},
		index, []byte(result), flag, ms(r.nowMs()), id, r.opts.EventsMaxLen, r.liveChannel(),
		BatchProgressInterval.Milliseconds()).Int()
	switch {
	case err != nil:
		return false, false, fmt.Errorf("batch %s series %d: %w", id, index, err)
	case code == -1:
		return false, false, fmt.Errorf("batch %s: %w", id, ErrNoBatch)
	case code == -2:
		return false, false, fmt.Errorf("batch %s series %d: %w", id, index, ErrBadSeriesIndex)
	}
	return code > 0, code == 2, nil
}

func (r *Redis) FlushBatchProgress(ctx context.Context, id string) (bool, error) {
	code, err := flushProgressScript.Run(ctx, r.rdb, []string{r.batchKey(id), r.eventsKey()},
		ms(r.nowMs()), id, r.opts.EventsMaxLen, r.liveChannel(), BatchProgressInterval.Milliseconds()).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("flush progress of batch %s: %w", id, err)
	case code == -1:
		return false, fmt.Errorf("batch %s: %w", id, ErrNoBatch)
	}
	return code == 1, nil
}

func (r *Redis) EndBatch(ctx context.Context, id string, status BatchStatus, reason string) (Batch, error) {
	if err := checkEnd(id, status); err != nil {
		return Batch{}, err
	}
	if status != BatchFailed {
		reason = ""
	}
	code, err := r.durable(ctx, opBatchEnd, endBatchScript, []string{r.batchKey(id), r.eventsKey()}, string(status), reason,
		ms(r.nowMs()), id, r.opts.EventsMaxLen, r.liveChannel()).Int()
	if err != nil {
		return Batch{}, fmt.Errorf("end batch %s: %w", id, err)
	}
	if code == -1 {
		return Batch{}, fmt.Errorf("batch %s: %w", id, ErrNoBatch)
	}
	return r.GetBatch(ctx, id)
}

func (r *Redis) RenewBatchSend(ctx context.Context, id string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("renew send lease of batch %s: lease %v: must be positive", id, lease)
	}
	code, err := renewSendScript.Run(ctx, r.rdb, []string{r.batchKey(id), r.sendingKey()}, id, max(lease.Milliseconds(), 1)).Int()
	return sendOutcome(id, "renew send lease of", code, err)
}

func (r *Redis) BatchSent(ctx context.Context, id string) error {
	code, err := r.durable(ctx, opBatchEnd, batchSentScript, []string{r.batchKey(id), r.sendingKey()}, id).Int()
	return sendOutcome(id, "record sent", code, err)
}

// sendOutcome is the error of a send lease script's answer.
func sendOutcome(id, what string, code int, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s batch %s: %w", what, id, err)
	case code == -1:
		return fmt.Errorf("batch %s: %w", id, ErrNoBatch)
	case code == 0:
		return fmt.Errorf("batch %s: %w", id, ErrBatchEnded)
	}
	return nil
}

// expireSendScript: KEYS batch, sending, events; ARGV id, now (ms, the record's time), reason,
// maxlen, channel. Fails the batch if its send lease has ended by the server's clock, emitting
// batch_done, and takes it off the set of batches being sent. Returns 1 if it failed the
// batch, 0 if not (renewed meanwhile, ended, gone).
var expireSendScript = redis.NewScript(luaPrelude + luaBatchEvents + luaSending + `
local by = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not by or tonumber(by) > servernow() then return 0 end
local st, open = sending(KEYS[1], KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not open then return 0 end
redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[3], 'updated', ARGV[2])
redis.call('HDEL', KEYS[1], 'send_by')
batchDone(KEYS[1], KEYS[3], ARGV[4], ARGV[5], ARGV[1], ARGV[2])
return 1
`)

// expirePage bounds the batches one ExpireUnsentBatches reads at a time.
const expirePage = 100

func (r *Redis) ExpireUnsentBatches(ctx context.Context) ([]string, error) {
	var ended []string
	for {
		server, err := r.rdb.Time(ctx).Result() // leases are read by the server's clock
		if err != nil {
			return ended, fmt.Errorf("batches being sent: %w", err)
		}
		now := r.nowMs()
		ids, err := r.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: r.sendingKey(), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(server.UnixMilli(), 10), Count: expirePage}).Result()
		if err != nil {
			return ended, fmt.Errorf("batches being sent: %w", err)
		}
		for _, id := range ids {
			code, err := r.durable(ctx, opBatchEnd, expireSendScript, []string{r.batchKey(id), r.sendingKey(), r.eventsKey()},
				id, ms(now), UnsentReason, r.opts.EventsMaxLen, r.liveChannel()).Int()
			if err != nil {
				return ended, fmt.Errorf("expire unsent batch %s: %w", id, err)
			}
			if code == 1 {
				ended = append(ended, id)
			}
		}
		if len(ids) < expirePage {
			return ended, nil
		}
	}
}

func (r *Redis) BatchResults(ctx context.Context, id string) (Batch, []string, []json.RawMessage, error) {
	// One transaction, so that the counts and the results are of the same moment.
	pipe := r.rdb.TxPipeline()
	rec := pipe.HGetAll(ctx, r.batchKey(id))
	names := pipe.Get(ctx, r.namesKey(id))
	results := pipe.HGetAll(ctx, r.resultsKey(id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Batch{}, nil, nil, fmt.Errorf("batch %s: %w", id, err)
	}
	b, err := decodeBatch(id, rec.Val())
	if err != nil {
		return Batch{}, nil, nil, err
	}
	var ns []string
	if err := json.Unmarshal([]byte(names.Val()), &ns); err != nil || len(ns) != b.Total {
		return Batch{}, nil, nil, fmt.Errorf("batch %s: names: %d of %d, %v", id, len(ns), b.Total, err)
	}
	out := make([]json.RawMessage, b.Total)
	for k, v := range results.Val() {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= b.Total {
			return Batch{}, nil, nil, fmt.Errorf("batch %s: result of series %q", id, k)
		}
		out[i] = json.RawMessage(v)
	}
	return b, ns, out, nil
}

// decodeBatch reads a batch's hash; an empty one is no batch.
func decodeBatch(id string, h map[string]string) (Batch, error) {
	if len(h) == 0 {
		return Batch{}, fmt.Errorf("batch %s: %w", id, ErrNoBatch)
	}
	b := Batch{ID: id, Status: BatchStatus(h["status"]), Error: h["error"]}
	if h["spec"] != "" {
		b.Spec = json.RawMessage(h["spec"])
	}
	var err error
	num := func(k string) int {
		n, e := strconv.Atoi(h[k])
		err = errors.Join(err, e)
		return n
	}
	b.Total, b.Done, b.Failed = num("total"), num("done"), num("failed")
	created, e1 := parseMs(h["created"])
	updated, e2 := parseMs(h["updated"])
	if err = errors.Join(err, e1, e2); err != nil {
		return Batch{}, fmt.Errorf("batch %s: malformed record: %w", id, err)
	}
	b.CreatedAt, b.UpdatedAt = created, updated
	if v := h["send_by"]; v != "" {
		if b.SendBy, err = parseMs(v); err != nil {
			return Batch{}, fmt.Errorf("batch %s: malformed record: %w", id, err)
		}
	}
	return b, nil
}
