"""The hook of the modf example; it runs in the worker once the task is saved."""


def print_result(task):
    # A worker sends print() to its log, where rundemo finds this line by the task's name.
    print(f"Hook print_result: {task.name} returned {task.result!r}")
