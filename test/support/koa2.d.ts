// `koa2` is koa@2 installed under an npm alias (see test/support/koa.ts); @types/koa describes it.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
