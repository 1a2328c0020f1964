/**
 * A benchmark worker process: runs the tasks the orchestrator sends
 * (see support/pool.ts), several at a time, and relays their mail.
 */
import { installCommandCounter, commandsSent } from './support/command-counter';
import { now } from './support/clock';
import { Mailbox, type FromWorker, type ToWorker } from './support/ipc';
import { tasks } from './scenarios';
import type { TaskContext } from './scenarios/types';

installCommandCounter();

const mailbox = new Mailbox();

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

const context: TaskContext = {
  send: (to, topic, data) => send({ kind: 'mail', to, topic, data }),
  receive: (id, topic, timeoutMs) => mailbox.receive(id, topic, timeoutMs),
};

process.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'task': {
      const task = tasks[message.task];
      if (task === undefined) {
        send({ kind: 'error', id: message.id, message: `unknown task ${message.task}` });
        return;
      }
      task(message.args, context).then(
        (result) => send({ kind: 'result', id: message.id, result }),
        (error: unknown) =>
          send({ kind: 'error', id: message.id, message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
      break;
    }
    case 'mail':
      mailbox.deliver(message.to, message.topic, message.data);
      break;
    case 'probe':
      send({ kind: 'probe', id: message.id, clock: now(), commands: commandsSent() });
      break;
  }
});

// The orchestrator is gone: nothing left to do.
process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', (reason) => {
  console.error('[bench worker] unhandled rejection:', reason);
});

send({ kind: 'ready', pid: process.pid });
