// Errors the worker can name, so the page can branch on a code rather than parse a message.
import type { ErrorCode } from './protocol';

export class TrainerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly recoverable = true,
  ) {
    super(message);
    this.name = 'TrainerError';
  }
}

export class NoBackendError extends TrainerError {
  constructor(message: string) {
    super('no-backend', message, false);
    this.name = 'NoBackendError';
  }
}
