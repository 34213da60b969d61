"""The director: a LangGraph agent that watches the clip, reasons about it and directs the actor."""
