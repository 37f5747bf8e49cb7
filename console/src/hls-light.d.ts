// hls.js ships no types for its light build; its API is the full build's, less features the preview does not use.
declare module 'hls.js/light' {
  export { default } from 'hls.js';
}
