import { expect, test } from 'vitest';
import { simArgs } from './cli.ts';

test('the simulator reads its flags, with defaults for the rest', () => {
  expect(simArgs([], 5_000_000_000)).toEqual({
    schedules: 1000,
    seed: 5_000_000_000 % 2 ** 32,
    minPeers: 2,
    maxPeers: 9,
    workers: 0,
    transcript: false,
    hostile: false,
    stalls: false,
  });
  expect(
    simArgs([
      '--schedules',
      '10000',
      '--seed',
      '17',
      '--peers',
      '3-5',
      '--workers',
      '2',
      '--hostile',
      '--stalls',
      '--transcript',
    ]),
  ).toEqual({
    schedules: 10_000,
    seed: 17,
    minPeers: 3,
    maxPeers: 5,
    workers: 2,
    transcript: true,
    hostile: true,
    stalls: true,
  });
  expect(simArgs(['--peers', '4'])).toMatchObject({ minPeers: 4, maxPeers: 4 });
  expect(simArgs(['--seed=4294967295'])).toMatchObject({ seed: 2 ** 32 - 1 });
});

test.each([
  [['--schedules', 'abc'], /--schedules must be a whole number from 1 to 1000000, got "abc"/],
  [['--schedules', '0'], /--schedules must be/],
  [['--schedules', '1e9'], /--schedules must be/],
  [['--schedules', '5000000'], /--schedules must be/],
  [['--seed', '4294967296'], /--seed must be a whole number from 0 to 4294967295/],
  [['--seed', '-1'], /--seed/],
  [['--workers', '0'], /--workers must be/],
  [['--peers', '5-3'], /--peers takes N or A-B within 1-50, got "5-3"/],
  [['--peers', '0'], /--peers/],
  [['--peers', '2-51'], /--peers/],
  [['--schedules'], /argument missing|--schedules/],
  [['--bogus'], /Unknown option '--bogus'/],
  [['stray'], /Unexpected argument 'stray'/],
  [['--hostile=yes'], /--hostile/],
])('%j is refused with a message that says why', (argv, why) => {
  const r = simArgs(argv as string[]);
  expect(typeof r).toBe('string');
  expect(r).toMatch(why);
});
