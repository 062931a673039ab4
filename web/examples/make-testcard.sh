#!/usr/bin/env bash
# Makes the demo's test stream, committed as web/testcard.mp4 and
# web/testcard.m3u8 (the tests do not run this; it needs ffmpeg:
# apt-get install ffmpeg): 12 s of ffmpeg's testsrc2 test card (426x240, 24
# fps) with a soft beep, H.264 Main and AAC, as ONE fragmented MP4 that
# <video> plays as it is, and an HLS playlist naming byte ranges of it in
# 2 s segments (keyframe every 48 frames) for hls.js, video.js and Shaka.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ffmpeg >/dev/null || { echo "make-testcard: ffmpeg is required (apt-get install ffmpeg)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ffmpeg -hide_banner -loglevel error \
  -f lavfi -i testsrc2=size=426x240:rate=24 \
  -f lavfi -i "sine=frequency=440:beep_factor=2:sample_rate=48000" \
  -t 12 -filter:a volume=0.05 \
  -c:v libx264 -profile:v main -preset veryslow -pix_fmt yuv420p -b:v 120k -maxrate 200k -bufsize 400k \
  -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a aac -b:a 32k -ac 1 \
  -f hls -hls_time 2 -hls_playlist_type vod -hls_segment_type fmp4 -hls_flags single_file \
  -hls_segment_filename "$tmp/testcard.mp4" "$tmp/testcard.m3u8"
mv "$tmp/testcard.mp4" "$tmp/testcard.m3u8" .
ls -l testcard.mp4 testcard.m3u8
