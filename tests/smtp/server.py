"""A real SMTP server for Usher's tests, built on aiosmtpd.

Listens on 127.0.0.1:PORT and writes every message it accepts to DIR as one .eml file
(written aside, then renamed, so a reader never sees half a message). Recipients whose
address starts with REJECT_PREFIX are refused with 550, so tests can watch a permanent
failure. Prints "ready" once it accepts connections and runs until SIGTERM or SIGINT.

Faults, for the tests that need them: --data-delay SECONDS waits that long after the end of
each message before accepting it (a slow server); --drop-first N closes the connection instead
of answering the end of the first N messages, writing nothing (a connection lost in the middle
of DATA: the client never hears whether the message was taken).
"""

import argparse
import asyncio
import os
import signal
import uuid

from aiosmtpd.controller import Controller


class FileSink:
    def __init__(self, directory, reject_prefix, data_delay=0.0, drop_first=0):
        self.directory = directory
        self.reject_prefix = reject_prefix
        self.data_delay = data_delay
        self.drops_left = drop_first

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_prefix and address.lower().startswith(self.reject_prefix):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.drops_left > 0:
            self.drops_left -= 1
            server.transport.close()
            return "421 4.4.2 connection dropped"
        if self.data_delay > 0:
            await asyncio.sleep(self.data_delay)
        name = uuid.uuid4().hex
        partial = os.path.join(self.directory, "." + name + ".partial")
        with open(partial, "wb") as f:
            f.write(envelope.original_content)
        os.rename(partial, os.path.join(self.directory, name + ".eml"))
        return "250 2.0.0 Ok: queued as " + name


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--reject-prefix", default="bounce")
    parser.add_argument("--data-delay", type=float, default=0.0)
    parser.add_argument("--drop-first", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    sink = FileSink(args.dir, args.reject_prefix, args.data_delay, args.drop_first)
    controller = Controller(sink, hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
