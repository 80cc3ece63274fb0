package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/forecastd/forecastd/messages"
	"github.com/forecastd/forecastd/store"
)

// redelivered tells a command that may have been delivered before (to this processor or
// another): RabbitMQ's count, or the mark of one published again out of a redelivered bundle.
func redelivered(msg *message.Message) bool {
	return messages.DeliveryCount(msg.Metadata) > 0 || msg.Metadata.Get(messages.ResentHeader) != ""
}

// giveUp answers a job whose command failed on its last delivery (a handler that keeps
// crashing, or a store that stays down), so the client learns the outcome instead of waiting
// for a timeout. With RabbitMQ the error still propagates and the broker dead-letters the
// command for inspection; without redelivery the command is acknowledged. topic is the
// handler's, which tells what the command is.
func (p *Processor) giveUp(topic string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if errors.Is(err, errMalformed) {
				// Poisoned (dead-lettered at once, never retried): its job, if it names one, is
				// answered, and its fit failed, so that neither waits for a queue lease to end.
				if ferr := p.failCommand(topic, msg, err, "could not be read by the processors"); ferr != nil {
					p.log.Warn("answer malformed command", "err", ferr)
				}
				return out, err
			}
			if err == nil || msg.Context().Err() != nil {
				return out, err
			}
			count := messages.DeliveryCount(msg.Metadata)
			if p.cfg.DeliveryLimit > 0 && count < p.cfg.DeliveryLimit {
				return out, err // RabbitMQ will try again, maybe on a healthier processor
			}
			p.log.Error("command failed on its last delivery; answering it as failed", "err", err, "deliveries", count+1)
			if ferr := p.failCommand(topic, msg, err, "failed repeatedly in the processors and was dead-lettered"); ferr != nil {
				p.log.Error("answer failed command", "err", ferr)
			}
			if p.cfg.DeliveryLimit == 0 {
				return out, nil
			}
			return out, err
		}
	}
}

// failCommand records the job of a command of topic that cannot be processed as failed and
// replies, telling its client the command what (failed repeatedly…); a batch series it records
// as failed.
func (p *Processor) failCommand(topic string, msg *message.Message, cause error, what string) error {
	var head struct {
		Kind       string `json:"kind"`
		JobID      string `json:"job_id"`
		Model      string `json:"model"` // a batch command names no model: see SavedModel
		Generation int64  `json:"generation"`
		ReplyTo    string `json:"reply_to"`
		API        string `json:"api"`
		BatchID    string `json:"batch_id"`
		Index      int    `json:"index"`
		Name       string `json:"name"`
	}
	err := json.Unmarshal(msg.Payload, &head)
	ctx := context.WithoutCancel(msg.Context())
	if err == nil && head.BatchID != "" {
		// The series ends with an error of its own, so that its batch can end; a series kept
		// as a model fails its fit too, releasing the forecasts held for it.
		fitErr := p.dropSaved(ctx, messages.BatchCommand{BatchID: head.BatchID, Name: head.Name, Generation: head.Generation}, "processing failed repeatedly")
		return errors.Join(fitErr, p.recordSeries(ctx, head.BatchID, messages.BatchSeriesResult{Index: head.Index, Name: head.Name,
			Failure: messages.Errorf(messages.CodeInternal, cause, "the series %s", what)}, p.log))
	}
	if err != nil || head.JobID == "" {
		return fmt.Errorf("unreadable command: %v", err)
	}
	kind := messages.KindForecast
	if topic == messages.TopicFit {
		kind = messages.KindFit
		if head.Kind == messages.KindBacktest {
			kind = messages.KindBacktest
		}
	}
	job := store.Job{ID: head.JobID, Kind: kind, Model: head.Model, Generation: head.Generation, CreatedAt: p.now()}
	if kind == messages.KindFit {
		cmd := messages.FitCommand{JobID: head.JobID, Model: head.Model, Generation: head.Generation, ReplyTo: head.ReplyTo, API: head.API}
		if answered, err := p.answerEndedOtherwise(ctx, cmd, job); answered || err != nil {
			return err
		}
	}
	return p.fail(ctx, job, head.ReplyTo, messages.Errorf(messages.CodeInternal, cause, "the %s %s", kind, what).WithJob(head.JobID))
}

// answerEndedOtherwise fails the fit of a command given up on, unless the fit ended otherwise
// first (an earlier delivery succeeded but lost its acknowledgement, say): then it answers the
// fit with its own outcome and reports true. An attempt still running the fit (a delivery of the
// same command, its connection dropped since) is waited for, as a redelivery waits, rather than
// have the fit failed under it.
func (p *Processor) answerEndedOtherwise(ctx context.Context, cmd messages.FitCommand, job store.Job) (bool, error) {
	log := p.log.With("model", cmd.Model, "generation", cmd.Generation, "job_id", cmd.JobID)
	if rec, err := p.store.Fit(ctx, cmd.Model, cmd.Generation); err == nil && rec.OfAnotherJob(cmd.JobID) {
		return false, nil // another job's generation (cmd's acceptance was lost): cmd's job alone is failed
	}
	rec, err := p.claim(ctx, cmd.Model, cmd.Generation, p.id+"/giving-up", log)
	if err != nil {
		return false, err
	}
	if !rec.Status.Terminal() {
		ended, err := p.store.FailFit(ctx, cmd.Model, cmd.Generation, "processing failed repeatedly")
		if ended {
			if err != nil { // failed all the same, the write not known to be safe: answer it
				log.Warn("fit failed, its write unconfirmed", "err", err)
			}
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if rec, err = p.store.Fit(ctx, cmd.Model, cmd.Generation); err != nil {
			return false, fmt.Errorf("read fit: %w", err)
		}
	}
	return true, p.answerEndedFit(ctx, cmd, job, rec, log)
}

// firstDeathQueueHeader names the queue RabbitMQ dead-lettered a message from.
const firstDeathQueueHeader = "x-first-death-queue"

// errDeadLettered is the cause of the failure of a command RabbitMQ dead-lettered.
var errDeadLettered = errors.New("dead-lettered by the broker after its delivery limit")

// RegisterDeadLetters adds the handler that answers the commands RabbitMQ dead-letters from the
// command queues: one whose every delivery killed its processor (an out-of-memory kill, say)
// was never answered, and its fit would stay pending, holding its model's forecasts, until the
// fit's queue lease ran out. Its job is answered as failed and its fit failed, as on a last
// delivery (giveUp); one given up on already is answered again with what it was told. suffix
// makes the handler's name unique, as for RegisterRole.
//
// Each dead-lettered message is tried once (through a store outage, for up to StoreOutage) and
// then acknowledged whatever came of it, so none can circle this queue for ever; it stays in
// the dead-letter queue for inspection.
func (p *Processor) RegisterDeadLetters(router *message.Router, sub message.Subscriber, suffix string) {
	hd := router.AddConsumerHandler("dead-lettered"+suffix, messages.TopicDeadLettered, sub, p.handleDeadLettered)
	hd.AddMiddleware(middleware.CorrelationID, p.settleDeadLetter)
	if p.cfg.StoreOutage > 0 {
		hd.AddMiddleware(p.storeDown().Middleware)
	}
	hd.AddMiddleware(middleware.Recoverer)
}

// settleDeadLetter acknowledges a dead-lettered message whatever answering it came to (an
// error, a panic), unless the processor is shutting down: then another processor takes it.
func (p *Processor) settleDeadLetter(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil && msg.Context().Err() == nil {
			p.log.Error("dead-lettered command not answered; it stays in the dead-letter queue", "queue", msg.Metadata.Get(firstDeathQueueHeader), "err", err)
			return out, nil
		}
		return out, err
	}
}

// handleDeadLettered answers a dead-lettered command: its topic is the queue it died in. What it
// cannot answer (from no command queue, malformed, or a bundle of forecasts, whose payload is no
// command) ends with an error that settleDeadLetter logs.
func (p *Processor) handleDeadLettered(msg *message.Message) error {
	queue := msg.Metadata.Get(firstDeathQueueHeader)
	topic := queue[strings.LastIndex(queue, ".")+1:]
	if topic != messages.TopicFit && topic != messages.TopicForecast && topic != messages.TopicBatch {
		return fmt.Errorf("dead-lettered from %q, no command queue", queue)
	}
	return p.failCommand(topic, msg, errDeadLettered, "failed repeatedly in the processors and was dead-lettered")
}
