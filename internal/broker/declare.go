package broker

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeclareError explains, in one line with the fix where there is one, why declaring (or binding) the
// queue or exchange name failed; kind is "queue" or "exchange".
//
// The usual cause is 406 PRECONDITION_FAILED: it exists already with other properties (durable or not, a
// queue type, a length limit...), and RabbitMQ never changes an existing queue or exchange to match a
// declaration. A passive declare of a missing one is 404 NOT_FOUND.
func DeclareError(kind, name string, err error) error {
	var aerr *amqp.Error
	if !errors.As(err, &aerr) {
		return fmt.Errorf("declare %s %q: %w", kind, name, err)
	}
	reason := FirstLine(aerr.Reason)
	switch aerr.Code {
	case amqp.PreconditionFailed:
		fix := "rabbitmqctl delete_queue " + name
		if kind != "queue" {
			fix = "rabbitmqadmin delete exchange name=" + name + ", or the management UI"
		}
		return fmt.Errorf("%s %q already exists with other properties (%s): "+
			"delete it (%s) or declare it as it was first declared", kind, name, reason, fix)
	case amqp.NotFound:
		return fmt.Errorf("%s %q does not exist (%s): declare it first", kind, name, reason)
	case amqp.AccessRefused:
		return fmt.Errorf("%s %q: access refused (%s): the user lacks permission for it", kind, name, reason)
	case amqp.ResourceLocked:
		return fmt.Errorf("%s %q is exclusive to another connection (%s)", kind, name, reason)
	}
	return fmt.Errorf("declare %s %q: %s", kind, name, reason)
}
