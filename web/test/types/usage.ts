// Compiled (not run) by test/types.test.mjs: a player app's use of the
// package through its exports, so the declarations are checked as users see them.
import { StreamLimitClient, StreamLimitError, sessionLabel, deviceLabel, type Session } from '@streamlimit/client';
import { attach, MESSAGES, type Attachment } from '@streamlimit/client/attach';
import { describeUserAgent } from '@streamlimit/client/device';
import { registerStreamLimit, attachVideojs } from '@streamlimit/client/videojs';
import { attachHls } from '@streamlimit/client/hls';
import { attachShaka } from '@streamlimit/client/shaka';

declare const video: HTMLVideoElement;

const client = new StreamLimitClient({
  baseUrl: 'https://api.example.com',
  token: async ({ refresh }) => (refresh ? 'fresh' : null),
  deviceName: 'Living room TV',
});
client.on('revoked', ({ error, reason }) => console.log(error, reason));

async function flow(): Promise<void> {
  const r = await client.start('alice', { client: { title: 'Film', deviceName: 'TV' } });
  if (!r.granted) {
    const first: Session | undefined = r.streams[0];
    if (first) {
      const ended = await client.endSession('alice', first.session);
      const n: number = ended.streamCount;
      console.log(sessionLabel(first), n);
    }
  } else {
    const id: string = r.lease.leaseId;
    console.log(id);
  }
  try {
    await client.stop();
  } catch (err) {
    if (err instanceof StreamLimitError && err.code === 'unauthorized') console.log(err.status);
  }
}

const stream: Attachment = attach(video, {
  uid: () => 'alice', title: 'Film', client, pausedReleaseMs: Infinity, hiddenPausedReleaseMs: 60_000,
  messages: { kicked: 'Stopped elsewhere.' },
});
stream.on('refused', (r) => console.log(r.maxStreams));
stream.on('released', ({ reason }) => console.log(reason));
void stream.stopSession('0123456789abcdef');
console.log(MESSAGES.lease_lost, deviceLabel({ name: 'TV' }), describeUserAgent('x').os);

declare const videojs: { registerPlugin(name: string, plugin: (this: any, options: any) => any): unknown };
registerStreamLimit(videojs);
declare const vjsPlayer: { tech(o: { IWillNotUseThisInPlugins: true }): { el(): Element }; el(): Element; on(type: 'dispose', fn: () => void): void };
attachVideojs(vjsPlayer, { uid: 'alice', baseUrl: 'https://api.example.com' });
declare const hls: { media: HTMLMediaElement | null; stopLoad(): void; startLoad(): void };
attachHls(hls, { uid: 'alice', baseUrl: 'https://api.example.com' });
declare const shakaPlayer: { getMediaElement(): HTMLMediaElement | null };
attachShaka(shakaPlayer, { uid: 'alice', baseUrl: 'https://api.example.com' });
void flow();
