import { checkKeyspaceEvents, type KeyspaceEvents } from '../core/options';
import { optionValue, type OptionSpec, type ParsedArgs } from './args';
import { UsageError } from './errors';

/** For the commands that listen on a lock's channel (watch, run): lock$'s keyspaceEvents. */
export const KEYSPACE_EVENTS_OPTION: OptionSpec = {
  name: 'keyspace-events',
  value: 'configure|assume|off',
  help: "configure (default): turn on Redis' expiry events with CONFIG SET; assume: never run CONFIG; off: expect none",
};

export function keyspaceEventsOption(args: ParsedArgs, command: string): KeyspaceEvents {
  const value = optionValue(args, 'keyspace-events');
  try {
    return checkKeyspaceEvents(value);
  } catch {
    throw new UsageError(`--keyspace-events must be configure, assume or off, got '${value}'`, command);
  }
}
