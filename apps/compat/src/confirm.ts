/**
 * P2's interactive confirmation (spec 03 §0.3): the prompt `Type "y" to confirm [n]: `, then one
 * line from standard input, terminal or not (so `yes | p2-label apply …` works as it did with P2).
 * `y` or `yes` (any case) confirms; anything else declines. Unlike P2, no answer at all (standard
 * input closed, as in a script without a terminal) is told apart from a "no", so a binary can fail
 * clearly and name `-y`.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Io } from '@p2/cli-kit';

/** What P2 printed before reading the answer. */
export const CONFIRM_PROMPT = 'Type "y" to confirm [n]: ';

/** `yes`, `no`, or `none` when standard input closed before a line came. */
export type Answer = 'yes' | 'no' | 'none';

/** Reads answers line by line from one input (created on the first question, closed by `close`). */
export class Confirmer {
  #lines: AsyncIterator<string> | undefined;
  #readline: Interface | undefined;

  constructor(private readonly input: NodeJS.ReadableStream = process.stdin) {}

  /** Prints `question` and the prompt on `io`'s stdout, then reads one answer. */
  async ask(io: Io, question: string): Promise<Answer> {
    io.stdout(`${question} ${CONFIRM_PROMPT}`);
    if (!this.#lines) {
      this.#readline = createInterface({ input: this.input, terminal: false });
      this.#lines = this.#readline[Symbol.asyncIterator]();
    }
    const line = await this.#lines.next();
    // A terminal echoes the answer and its newline; a pipe does not, so the next line would follow
    // the prompt on the same line.
    if (line.done || !(this.input as { isTTY?: boolean }).isTTY) io.stdout('\n');
    if (line.done) return 'none';
    return /^\s*y(es)?\s*$/i.test(line.value) ? 'yes' : 'no';
  }

  /** Stops reading (a terminal left open would keep the process alive). */
  close(): void {
    this.#readline?.close();
  }
}
