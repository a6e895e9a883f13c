// The prebuilt bundle, which carries its own Buffer/process shims: the published lib (`--mode lib`) imports it
// in place of `simple-peer`, as its consumers' bundlers have no Node polyfills. Our own pages bundle simple-peer
// from source (client/src/net/shims).
declare module 'simple-peer/simplepeer.min.js' {
  import SimplePeer from 'simple-peer';
  export default SimplePeer;
}
