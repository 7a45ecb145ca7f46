"""A real SMTP server on loopback for the mail tests (on the port given, else any free one):
prints `PORT n` once listening, then
each message it receives between `MAIL FROM … TO …` and `.END` lines on stdout."""
import asyncio
import sys

from aiosmtpd.smtp import SMTP


class Print:
    async def handle_DATA(self, server, session, envelope):
        text = envelope.content.decode("utf8", "replace")
        sys.stdout.write(f"MAIL FROM {envelope.mail_from} TO {','.join(envelope.rcpt_tos)}\n{text}\n.END\n")
        sys.stdout.flush()
        return "250 OK"


async def main():
    loop = asyncio.get_running_loop()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = await loop.create_server(lambda: SMTP(Print()), "127.0.0.1", port, reuse_address=True)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
