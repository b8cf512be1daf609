"""The orders app's scheduled job (app_timers): records which build ran it."""

import time

from orders.queue import BUILD, connect

if __name__ == "__main__":
    connect().execute("INSERT INTO ticks (build, at) VALUES (?, ?)", (BUILD, time.time()))
    print(f"tick of {BUILD}", flush=True)
