def test_create_and_read_conversation(api):
    conversation = api.conversation(group_id="g", topic="Hello")
    assert api.ok("Streams/ReadConversation", {"id": conversation["id"]}) == {"conversation": conversation}


def test_read_conversation_runs_two_queries(api, assert_queries):
    conversation = api.conversation()
    with assert_queries(2):  # the API key, the conversation
        api.ok("Streams/ReadConversation", {"id": conversation["id"]})
