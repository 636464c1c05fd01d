def time_nested():
    "-".join(["a"] * 50)
