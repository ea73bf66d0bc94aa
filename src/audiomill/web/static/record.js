// Recording from the microphone (MediaRecorder): the take becomes a file like a dropped one.

export function recorder(onFile, onError) {
  let media = null;
  let chunks = [];
  return {
    get recording() {
      return media !== null && media.state === 'recording';
    },
    async start() {
      if (!navigator.mediaDevices || !window.MediaRecorder) throw new Error('this browser cannot record audio here (it needs https or localhost)');
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      chunks = [];
      media = new MediaRecorder(stream);
      media.ondataavailable = (event) => event.data.size && chunks.push(event.data);
      media.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        const type = media.mimeType || 'audio/webm';
        const extension = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
        const stamp = new Date().toISOString().slice(11, 19).replace(/:/g, '');
        onFile(new File(chunks, `recording-${stamp}.${extension}`, { type }));
        media = null;
      };
      media.onerror = (event) => onError(event.error || new Error('recording failed'));
      media.start();
    },
    stop() {
      if (media && media.state === 'recording') media.stop();
    },
  };
}
