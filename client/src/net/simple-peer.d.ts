// The prebuilt bundle carries its own Buffer/process shims, so Vite needs no Node polyfills.
declare module 'simple-peer/simplepeer.min.js' {
  import SimplePeer from 'simple-peer';
  export default SimplePeer;
}
