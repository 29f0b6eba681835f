// A web call from the dashboard: start it (a form post with the session's token), stream the
// microphone to the agent over the call's WebSocket and play the agent's voice back.
// Protocol: src/voxline/telephony/web/transport.py.
(() => {
  const root = document.getElementById("webcall");
  if (!root) return;
  const status = document.getElementById("webcall-status");
  const startButton = document.getElementById("webcall-start");
  const hangupButton = document.getElementById("webcall-hangup");
  const errorLine = document.getElementById("webcall-error");
  const link = document.getElementById("webcall-link");
  const RATE = 16000;

  let socket = null;
  let context = null;
  let microphone = null;
  let playAt = 0;
  const playing = new Set();

  const show = (text) => { status.textContent = text; };
  const fail = (text) => { errorLine.textContent = text; errorLine.hidden = false; };

  function play(buffer) {
    const pcm = new Int16Array(buffer);
    const audio = context.createBuffer(1, pcm.length, RATE);
    const samples = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 0x8000;
    const source = context.createBufferSource();
    source.buffer = audio;
    source.connect(context.destination);
    // Queue each frame after the previous one; a little slack absorbs network jitter.
    playAt = Math.max(playAt, context.currentTime + 0.05);
    source.start(playAt);
    playAt += audio.duration;
    playing.add(source);
    source.onended = () => playing.delete(source);
  }

  function clearQueue() {
    for (const source of playing) { try { source.stop(); } catch (e) { /* already ended */ } }
    playing.clear();
    playAt = 0;
  }

  function stop() {
    if (microphone) microphone.getTracks().forEach((track) => track.stop());
    microphone = null;
    if (context) context.close();
    context = null;
    hangupButton.disabled = true;
  }

  async function start() {
    startButton.disabled = true;
    errorLine.hidden = true;
    show("connecting");
    try {
      microphone = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
      });
      context = new AudioContext();
      await context.audioWorklet.addModule(root.dataset.worklet);
    } catch (e) {
      stop();
      startButton.disabled = false;
      show("ready");
      fail("The microphone is not available: " + e.message);
      return;
    }
    const form = new FormData();
    form.append("csrf", root.dataset.csrf);
    const response = await fetch(root.dataset.start, { method: "POST", body: form });
    const call = await response.json().catch(() => ({}));
    if (!response.ok) {
      stop();
      startButton.disabled = false;
      show("ready");
      fail(call.error || "The call could not start");
      return;
    }
    root.dataset.callId = call.call_id;
    link.querySelector("a").href = call.call_url;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${call.socket}`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => socket.send(JSON.stringify({ type: "start", token: call.token }));
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") {
        if (context) play(event.data);
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === "started") {
        show("connected");
        hangupButton.disabled = false;
        const capture = new AudioWorkletNode(context, "voxline-capture");
        capture.port.onmessage = (frame) => {
          if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame.data);
        };
        context.createMediaStreamSource(microphone).connect(capture);
      } else if (message.type === "clear") {
        clearQueue();
      } else if (message.type === "ended") {
        show(message.by === "agent" ? "the agent hung up" : "ended");
      }
    };
    socket.onclose = (event) => {
      if (event.code === 1008) fail("The call was refused: sign in again and retry");
      if (status.textContent === "connected" || status.textContent === "connecting") show("ended");
      stop();
      link.hidden = false;
      socket = null;
      startButton.disabled = false; // another call can start without reloading the page
    };
  }

  startButton.addEventListener("click", start);
  hangupButton.addEventListener("click", () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "hangup" }));
    hangupButton.disabled = true;
    show("hanging up");
  });
})();
