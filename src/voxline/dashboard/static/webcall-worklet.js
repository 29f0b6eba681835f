// Microphone capture for a web call: mono, resampled to 16 kHz, 20 ms frames of PCM16
// (320 samples) posted to the page, which sends them over the call's WebSocket.
class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / 16000; // input samples per output sample
    this.position = 0; // where the next output sample falls in the input stream
    this.frame = new Int16Array(320);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    // Average the input samples each output sample covers (a box filter against aliasing).
    let start = this.position;
    while (start + this.step <= channel.length) {
      const from = Math.floor(start);
      const to = Math.min(channel.length, Math.floor(start + this.step));
      let sum = 0;
      for (let i = from; i < to; i++) sum += channel[i];
      const value = Math.max(-1, Math.min(1, sum / Math.max(1, to - from)));
      this.frame[this.filled++] = value < 0 ? value * 0x8000 : value * 0x7fff;
      if (this.filled === this.frame.length) {
        this.port.postMessage(this.frame.buffer.slice(0));
        this.filled = 0;
      }
      start += this.step;
    }
    this.position = start - channel.length;
    return true;
  }
}

registerProcessor("voxline-capture", Capture);
