// Core runs anywhere JavaScript does, so it compiles without Node's types. These are the only
// host globals it touches: `performance` for the default clock and `URL` for validation.
declare const performance: { now(): number };

declare class URL {
  constructor(input: string, base?: string);
  readonly href: string;
  readonly origin: string;
  readonly protocol: string;
  readonly hostname: string;
  readonly port: string;
  readonly pathname: string;
  readonly username: string;
  readonly password: string;
}
