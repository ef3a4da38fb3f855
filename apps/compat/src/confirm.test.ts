import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CONFIRM_PROMPT, Confirmer } from './confirm.js';

function io() {
  const out = {
    text: '',
    isTTY: false,
    stdout: (s: string) => {
      out.text += s;
    },
    stderr: () => {},
  };
  return out;
}

describe("P2's confirmation", () => {
  it('reads one line per question: y or yes confirms, anything else declines, EOF is no answer', async () => {
    const input = new PassThrough();
    input.end('y\nYES\nnope\n');
    const confirmer = new Confirmer(input);
    const out = io();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await confirmer.ask(out, `q${i}?`));
    confirmer.close();
    expect(answers).toEqual(['yes', 'yes', 'no', 'none']);
    expect(out.text).toBe(
      ['q0?', 'q1?', 'q2?', 'q3?'].map((q) => `${q} ${CONFIRM_PROMPT}\n`).join(''),
    );
  });
});
