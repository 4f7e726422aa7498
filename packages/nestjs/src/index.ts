/**
 * @ballast/nestjs: NestJS module for Ballast: BallastModule, @InjectBalancer(), balanced HTTP clients and proxy middleware.
 *
 * @packageDocumentation
 */
export {};
