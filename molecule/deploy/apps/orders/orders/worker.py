"""The orders app's queue worker (app_processes): runs the queued jobs one by one. Its stop signal is
SIGINT (the deploy sets stop_signal: SIGINT): the job in hand is finished, then it exits, as a warm
shutdown does. SIGTERM keeps Python's default, ending it at once: the deploy must send the right one."""

import signal
import sys
import time

from orders.queue import BUILD, claim, connect, finish

stopping = []


def main() -> None:
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(signum))
    db = connect()
    done = 0
    print(f"worker of {BUILD} started", flush=True)
    while not stopping:
        job = claim(db)
        if job is None:
            time.sleep(0.05)
            continue
        time.sleep(0.01)  # the work
        finish(db, job)
        done += 1
    print(f"worker of {BUILD} stopped on SIGINT after {done} jobs, none left half done", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
