def test_create_and_read_conversation(api):
    conversation = api.conversation(group_id="g", topic="Hello")
    assert api.ok("Streams/ReadConversation", {"id": conversation["id"]}) == {"conversation": conversation}


def test_read_conversation_runs_one_query(api, assert_queries):
    conversation = api.conversation()  # also caches the API key
    with assert_queries(1):  # the conversation
        api.ok("Streams/ReadConversation", {"id": conversation["id"]})
