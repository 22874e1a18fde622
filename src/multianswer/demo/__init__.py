"""`multianswer demo`: the paper's effect end to end at toy scale."""
