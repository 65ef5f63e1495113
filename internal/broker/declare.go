package broker

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeclareError explains why declaring queue failed, in one line with the fix where there is one.
//
// The usual cause is 406 PRECONDITION_FAILED: the queue exists already with other properties (durable or
// not, a queue type, a length limit...), and RabbitMQ never changes an existing queue to match a
// declaration. A passive declare of a missing queue is 404 NOT_FOUND.
func DeclareError(queue string, err error) error {
	var aerr *amqp.Error
	if !errors.As(err, &aerr) {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	switch aerr.Code {
	case amqp.PreconditionFailed:
		return fmt.Errorf("queue %q already exists with other properties (%s): "+
			"delete it (rabbitmqctl delete_queue %s) or declare it as it was first declared", queue, aerr.Reason, queue)
	case amqp.NotFound:
		return fmt.Errorf("queue %q does not exist (%s): declare it first", queue, aerr.Reason)
	case amqp.AccessRefused:
		return fmt.Errorf("queue %q: access refused (%s): the user lacks permission, or another connection holds it exclusively",
			queue, aerr.Reason)
	}
	return fmt.Errorf("declare queue %q: %s", queue, aerr.Reason)
}
