"""The director graph.

    watch -> reason -> retrieve -> direct -> act -> review -(miss)-> act
                                                    review -(ok)--> export -> wait_for_note
    wait_for_note -> interpret -(retake)-> act
                     interpret -(unclear)-> wait_for_note

`wait_for_note` interrupts the run (LangGraph `interrupt`); the human's note resumes it with
`Command(resume=note)`. Every step is checkpointed (SQLite), so a session survives a crash.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from cinedub.agents import nodes
from cinedub.agents.context import DirectorContext
from cinedub.agents.state import DirectorState, InputState, json_node


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    builder = StateGraph(DirectorState, input_schema=InputState, context_schema=DirectorContext)
    for node in (nodes.watch, nodes.reason, nodes.retrieve, nodes.direct, nodes.act, nodes.review,
                 nodes.export, nodes.wait_for_note, nodes.interpret):  # fmt: skip
        builder.add_node(node.__name__, json_node(node))
    builder.add_edge(START, "watch")
    builder.add_edge("watch", "reason")
    builder.add_edge("reason", "retrieve")
    builder.add_edge("retrieve", "direct")
    builder.add_edge("direct", "act")
    builder.add_edge("act", "review")
    builder.add_conditional_edges("review", nodes.route_review)
    builder.add_edge("export", "wait_for_note")
    builder.add_edge("wait_for_note", "interpret")
    builder.add_conditional_edges("interpret", nodes.route_note)
    return builder.compile(checkpointer=checkpointer)
